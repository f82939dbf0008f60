"""HTTP API over :class:`rag.service.RagService`, with the Gradio chat mounted at ``/``.

Each route is a thin shell: pydantic in, one service call, pydantic out. The route
docstrings are the OpenAPI text (see ``/docs``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator

from index.article import ArticleError
from index.store import StoreError
from rag.conversations import Conversations
from rag.models import Answer, Document, DocumentInfo, Filters
from rag.service import NotFound, QuestionError, RagService
from rag.settings import Settings
from ui.chat_mount import ChatMount
from ui.conversations_api import conversations_router, safe_ask
from ui.feed_polling import FeedWatch
from ui.sources_api import sources_router
from ui.web_security import CHAT_KEY_COOKIE, Utf8Json, WebGuard, cookie_token, only_http_links

MULTIPART_SLACK = 64 * 1024  # room for multipart headers around the file itself


def utf8_text(value: str) -> str:
    """Refuse text that cannot be UTF-8 (a lone surrogate, e.g. from JSON's "\\ud800"): a 422, not a 500."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid UTF-8 text: lone surrogate at character {exc.start}") from None
    return value


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)

    _utf8 = field_validator("content")(utf8_text)


class AskRequest(BaseModel):
    question: str = Field(description="Non-empty, at most RAG_MAX_QUESTION_CHARS characters.")
    top_k: int | None = Field(None, ge=1, le=50, description="Citations to return (default RAG_TOP_K).")
    history: list[Turn] = Field(default_factory=list, max_length=100,
                                description="Earlier turns, oldest first; follow-up questions lean on them.")

    filters: Filters | None = Field(None, description="Ask only within these articles, outlets or dates "
                                    "(applied inside retrieval).")

    _utf8 = field_validator("question")(utf8_text)


class IngestSummary(BaseModel):
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    skipped: list[tuple[str, str]]
    passages_embedded: int
    summary: str
    documents: list[DocumentInfo] = Field(description="The corpus after the change.")


class Deleted(BaseModel):
    deleted: str
    documents: list[DocumentInfo] = Field(description="The corpus after the change.")


class Health(BaseModel):
    status: str = Field(description="`ok`, or `degraded` when the index is damaged (see `reason`).")
    reason: str | None = Field(None, description="What is wrong, and the command that repairs it.")
    articles: int
    passages: int
    embed_model: str
    store: str


class UploadLimit:
    """Refuse an upload whose declared size is over the limit before its body is read (413)."""

    def __init__(self, app, path: str, limit: int) -> None:
        self.app, self.path, self.limit = app, path, limit + MULTIPART_SLACK

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if length.isdigit() and int(length) > self.limit:
                return await JSONResponse({"detail": "upload is too large"}, 413)(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(settings: Settings, ingest_if_empty: bool = False, service: RagService | None = None,
               chat_in_background: bool = False) -> FastAPI:
    """The API routes, then the chat UI at ``/`` (``chat_in_background``: built once the server is up,
    see ui.chat_mount).

    ``settings`` govern the HTTP layer (keys, upload limit); a given ``service`` (tests
    share one loaded model) keeps its own settings for everything else.
    """
    svc = service or RagService(settings)
    ask_safely = safe_ask(svc)  # filters only when given; only http(s) links leave
    conversations = Conversations.from_settings(svc.settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if ingest_if_empty:
            await run_in_threadpool(svc.ensure_ingested)
        async with chat.running(background=chat_in_background):
            with FeedWatch(svc).polling():
                yield

    app = FastAPI(title="News Q&A", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Extractive answers over a folder of news articles, with exact citations.")
    app.add_middleware(UploadLimit, path="/api/documents", limit=settings.max_upload_bytes)
    app.add_middleware(Utf8Json)
    app.add_middleware(WebGuard, api_key=settings.api_key)  # outermost: every response gets its headers
    bearer = HTTPBearer(auto_error=False, description="RAG_API_KEY, when set")

    def check_key(creds: HTTPAuthorizationCredentials | None) -> None:
        if settings.api_key and not (creds and secrets.compare_digest(creds.credentials.encode(),
                                                                      settings.api_key.encode())):
            raise HTTPException(401, "missing or wrong bearer key", headers={"WWW-Authenticate": "Bearer"})

    def writer(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        check_key(creds)

    def reader(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if settings.api_key_reads:
            check_key(creds)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422 without the echoed input: it may be text that cannot be encoded back."""
        return JSONResponse({"detail": [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]},
                            422)

    @app.exception_handler(QuestionError)
    async def _bad_question(_request: Request, exc: QuestionError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 422)

    @app.exception_handler(ArticleError)
    async def _bad_article(_request: Request, exc: ArticleError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 422)

    @app.exception_handler(StoreError)
    async def _store_down(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "status": "unavailable"}, 503, headers={"Retry-After": "5"})

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no article with id {exc.args[0]!r}"}, 404)

    @app.post("/api/ask", response_model=Answer, dependencies=[Depends(reader)])
    def ask(req: AskRequest) -> Answer:
        """Answer a question from the indexed articles. The answer is quoted from an article and
        every citation's `quote` equals the article text `[start:end]`; when the articles do not
        answer, `abstained` is true. 422 for an empty or over-long question."""
        return ask_safely(req.question, req.top_k, [t.model_dump() for t in req.history], req.filters)

    @app.post("/api/ask/stream", dependencies=[Depends(reader)],
              responses={200: {"content": {"application/x-ndjson": {}}}})
    def ask_stream(req: AskRequest) -> StreamingResponse:
        """Like `/api/ask`, as NDJSON, saying what happens: first `{"type": "status", "text": "searching N
        articles…", "articles": N}`, then one `{"type": "answer", ...}` line with the full answer and its
        citations (the answer is extracted whole: there is no word-by-word typing to simulate)."""
        svc.check_question(req.question)  # a bad question is a 422, not a broken stream

        def lines() -> Iterator[str]:
            n = svc.health()["articles"]
            yield json.dumps({"type": "status", "text": f"searching {n} articles…", "articles": n}) + "\n"
            result = ask_safely(req.question, req.top_k, [t.model_dump() for t in req.history], req.filters)
            yield json.dumps({"type": "answer", **result.model_dump()}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/api/documents", response_model=list[DocumentInfo], dependencies=[Depends(reader)])
    def documents() -> list[DocumentInfo]:
        """The indexed articles: id, title, outlet, date, url and passage count."""
        return only_http_links(svc.documents())

    @app.get("/api/documents/{doc_id}", response_model=Document, dependencies=[Depends(reader)],
             responses={404: {"description": "No article with that id."}})
    def document(doc_id: str) -> Document:
        """One article's metadata and full raw text (citation offsets index `text`)."""
        return only_http_links(svc.document(doc_id))

    @app.post("/api/documents", response_model=IngestSummary, dependencies=[Depends(writer)],
              responses={401: {"description": "Missing or wrong bearer key."},
                         413: {"description": "File over RAG_MAX_UPLOAD_BYTES."},
                         422: {"description": "Bad file name, type or content."}})
    def upload(file: UploadFile) -> IngestSummary:
        """Add one article (`.txt`, `.md`, or a saved page `.html`/`.htm`) to the corpus folder and index it
        at once; the next question sees it. Needs the bearer key when RAG_API_KEY is set."""
        data = file.file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"file is larger than {settings.max_upload_bytes} bytes")
        report = svc.add_document(file.filename or "", data)
        return IngestSummary(added=report.added, updated=report.updated, unchanged=report.unchanged,
                             skipped=report.skipped, passages_embedded=report.passages_embedded,
                             summary=report.summary(), documents=only_http_links(svc.documents()))

    @app.delete("/api/documents/{doc_id}", response_model=Deleted, dependencies=[Depends(writer)],
                responses={401: {"description": "Missing or wrong bearer key."},
                           404: {"description": "No article with that id."}})
    def delete(doc_id: str) -> Deleted:
        """Remove an article from the index and from the corpus folder. Needs the bearer key when
        RAG_API_KEY is set."""
        svc.delete_document(doc_id)
        return Deleted(deleted=doc_id, documents=only_http_links(svc.documents()))

    @app.post("/api/chat-key", status_code=204, dependencies=[Depends(writer)],
              responses={401: {"description": "Missing or wrong bearer key."}})
    def chat_key(response: Response) -> None:
        """Unlock the chat's uploads and deletes in this browser: sets an HttpOnly cookie holding a MAC
        of the key (the chat calls this when the key is typed in)."""
        if settings.api_key:
            response.set_cookie(CHAT_KEY_COOKIE, cookie_token(settings.api_key), httponly=True,
                                samesite="strict", path="/")

    app.include_router(sources_router(svc, writer, reader))
    app.include_router(conversations_router(svc, conversations, settings, reader, ask_safely))

    app.mount("/docs-assets", StaticFiles(directory=swagger_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the installed fastapi-offline package's copy: no CDN, works offline."""
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="News Q&A API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")

    @app.get("/api/health", response_model=Health)
    def health() -> Health:
        """Liveness and index size: article and passage counts, embedding model, store mode.
        Always open (no key), for load balancers and probes."""
        return Health(**svc.health())

    blocked = [str(settings.corpus_dir.resolve()), str(settings.data_dir.resolve()),
               str(svc.settings.corpus_dir.resolve()), str(svc.settings.data_dir.resolve())]
    auth = None
    if settings.api_key and settings.api_key_reads:  # the chat reads too: log in with the key as password
        key = settings.api_key.encode()
        auth = lambda _user, password: secrets.compare_digest(password.encode(), key)  # noqa: E731

    def build() -> FastAPI:
        import gradio as gr

        from ui.chat import CSS, HEAD, build_chat

        blocks = build_chat(svc, settings, conversations=conversations)
        holder = gr.mount_gradio_app(FastAPI(), blocks, path="/", blocked_paths=blocked, auth=auth,
                                     auth_message="Password: the server's RAG_API_KEY.", css=CSS, head=HEAD,
                                     max_file_size=settings.max_upload_bytes, footer_links=["api"])
        # Gradio checks that an event's files came through its upload route only once it "has launched",
        # which mounting never sets: without this, any server path named in a FileData would be copied in.
        blocks.has_launched = True
        return holder

    chat = ChatMount(build)
    if not chat_in_background:
        chat.build_now()
    app.mount("/", chat)
    # Gradio's session heartbeats never end by themselves; ui.server.Server calls this on shutdown.
    app.state.stop_streams = chat.stop_streams
    return app


def swagger_assets() -> str:
    """Swagger UI's script, stylesheet and icon as shipped in the fastapi-offline wheel (MIT)."""
    from importlib.resources import files

    return str(files("fastapi_offline") / "static")
