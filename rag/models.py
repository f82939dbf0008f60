"""The answer contract shared by the CLI, the HTTP API and the chat UI."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Citation(BaseModel):
    doc_id: str = Field(description="Article id: the file stem.")
    title: str
    outlet: str
    date: str | None = None
    url: str | None = None
    date_source: str | None = Field(None, description="Where the date came from: page markup, dateline, "
                                    "page header, sidecar, feed, dump.")
    source: str | None = Field(None, description="The original file name, URL or dump row.")
    quote: str = Field(description="Verbatim article text; equals the article's raw text [start:end].")
    start: int
    end: int
    score: float
    also_in: list[str] = Field(default_factory=list, description="Other articles carrying the same passage.")


MAX_ANSWER_CHARS = 400  # the answer contract: at most two sentences and this many characters


class Answer(BaseModel):
    question: str
    answer: str
    abstained: bool
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation] = Field(default_factory=list, description="Best first.")
    highlight: list[int] | None = Field(None, description="[start, end] of the answering phrase inside `answer`.")


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    outlet: str
    date: str | None = None
    url: str | None = None
    date_source: str | None = Field(None, description="Where the date came from: page markup, dateline, "
                                    "page header, sidecar, feed, dump.")
    source: str | None = Field(None, description="The original file name, URL or dump row.")
    passages: int


class Document(DocumentInfo):
    text: str = Field(description="The article's raw decoded text; citation offsets index it.")


class Filters(BaseModel):
    """Ask only within some articles: applied inside retrieval (dense and lexical), not after it."""

    doc_ids: list[str] | None = Field(None, description="Only these article ids.")
    outlets: list[str] | None = Field(None, description="Only articles from these outlets (as listed by /api/documents).")
    date_from: str | None = Field(None, description="ISO date YYYY-MM-DD; only articles dated on or after it.")
    date_to: str | None = Field(None, description="ISO date YYYY-MM-DD; only articles dated on or before it.")

    def empty(self) -> bool:
        return not (self.doc_ids or self.outlets or self.date_from or self.date_to)
