"""HTTP routes for news that arrives as links and feeds (mounted by :func:`ui.api.create_app`)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from index.ingest import IngestReport
from rag.service import RagService
from ui.feed_polling import FeedStatus, FeedWatch


class UrlRequest(BaseModel):
    url: str = Field(max_length=2000, description="An http(s) link to a news article page.")


class FeedRequest(BaseModel):
    url: str = Field(max_length=2000, description="An http(s) link to an RSS or Atom feed.")


class SourceReport(BaseModel):
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    skipped: list[tuple[str, str]] = Field(description="(URL, feed item or file, reason) for each one refused.")
    passages_embedded: int
    summary: str

    @classmethod
    def of(cls, report: IngestReport) -> "SourceReport":
        return cls(added=report.added, updated=report.updated, unchanged=report.unchanged, skipped=report.skipped,
                   passages_embedded=report.passages_embedded, summary=report.summary())


def sources_router(svc: RagService, writer: Callable, reader: Callable) -> APIRouter:
    """``writer``/``reader``: the app's key checks for write and read routes."""
    router = APIRouter()
    watch = FeedWatch(svc)
    refused = {401: {"description": "Missing or wrong bearer key."}}

    @router.post("/api/documents/url", response_model=SourceReport, dependencies=[Depends(writer)],
                 responses=refused)
    def add_url(req: UrlRequest) -> SourceReport:
        """Fetch a news page (http/https only, robots.txt honoured, size and time capped, no private
        addresses), extract its article and index it. A page that cannot be fetched or holds no article
        is listed in `skipped` with the reason; an unchanged page embeds nothing. Needs the bearer key
        when RAG_API_KEY is set."""
        return SourceReport.of(svc.ingest_urls([req.url]))

    @router.get("/api/feeds", response_model=list[FeedStatus], dependencies=[Depends(reader)])
    def feeds() -> list[FeedStatus]:
        """The feeds `rag serve` polls every RAG_FEED_INTERVAL seconds (RAG_FEEDS and those added
        here), each with when it was last polled and what that poll did."""
        return watch.statuses()

    @router.post("/api/feeds", response_model=SourceReport, dependencies=[Depends(writer)],
                 responses={**refused, 422: {"description": "Not an http(s) URL."}})
    def add_feed(req: FeedRequest) -> SourceReport:
        """Follow an RSS or Atom feed: index its items now (each item's page, else the feed's own text)
        and poll it from then on. Needs the bearer key when RAG_API_KEY is set."""
        try:
            watch.follow(req.url)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return SourceReport.of(watch.poll_one(req.url))

    return router
