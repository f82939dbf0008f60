"""HTTP routes for saved conversations and feedback: the same store the chat's sidebar uses.

A conversation belongs to the caller's ``X-Client-Id`` (any random string the client keeps) and, when
the request carries the bearer key, to that key too (see :func:`rag.conversations.owner_id`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from rag.conversations import ConversationError, Conversations, owner_id, to_markdown
from rag.models import Answer, Filters
from rag.service import RagService
from rag.settings import Settings
from ui.web_security import key_matches, only_http_links


class ConversationInfo(BaseModel):
    id: str
    title: str
    created: float
    updated: float


class Message(BaseModel):
    id: int
    role: Literal["user", "assistant"]
    content: str
    answer: Answer | None = Field(None, description="For an assistant message: the full answer contract.")
    created: float


class Conversation(ConversationInfo):
    messages: list[Message]


class NewConversation(BaseModel):
    title: str = Field("New conversation", min_length=1, max_length=200)


class ConversationAsk(BaseModel):
    question: str
    top_k: int | None = Field(None, ge=1, le=50)
    filters: Filters | None = None


class Turn(BaseModel):
    message_id: int = Field(description="The answer's id, for feedback.")
    answer: Answer


class FeedbackIn(BaseModel):
    message_id: int
    rating: Literal[1, -1] = Field(description="1: thumbs up, -1: thumbs down.")
    correct_answer: str | None = Field(None, max_length=2000, description='"The right answer is…"')
    doc_id: str | None = Field(None, description="The article whose passage holds the right answer.")


def conversations_router(svc: RagService, store: Conversations, settings: Settings, reader: Callable,
                         ask: Callable[[str, int | None, list[dict], Filters | None], Answer]) -> APIRouter:
    """Routes under /api/conversations and /api/feedback; ``ask`` is the API's own ask call."""
    router = APIRouter(dependencies=[Depends(reader)], tags=["conversations"])
    bearer = HTTPBearer(auto_error=False)

    def owner(x_client_id: str = Header(..., description="The caller's own random id; it owns the "
                                        "conversations it makes."),
              creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
        keyed = settings.api_key if settings.api_key and creds and key_matches(creds.credentials,
                                                                                settings.api_key) else None
        try:
            return owner_id(x_client_id, keyed)
        except ConversationError as exc:
            raise HTTPException(422, str(exc)) from None

    def owned(action: Callable):
        try:
            return action()
        except KeyError:
            raise HTTPException(404, "no such conversation or message for this client") from None
        except ConversationError as exc:
            raise HTTPException(422, str(exc)) from None

    @router.get("/api/conversations", response_model=list[ConversationInfo])
    def list_conversations(me: str = Depends(owner)) -> list[dict]:
        """This client's conversations, newest first."""
        return store.list(me)

    @router.post("/api/conversations", response_model=ConversationInfo, status_code=201)
    def create(body: NewConversation, me: str = Depends(owner)) -> dict:
        """Start a conversation (its first question names it unless a title is given)."""
        return owned(lambda: store.create(me, body.title))

    @router.get("/api/conversations/{cid}", response_model=Conversation, responses={404: {}})
    def get(cid: str, me: str = Depends(owner)) -> dict:
        """One conversation with every question and answer (answers with their citations)."""
        return owned(lambda: store.get(me, cid))

    @router.patch("/api/conversations/{cid}", response_model=Conversation, responses={404: {}})
    def rename(cid: str, body: NewConversation, me: str = Depends(owner)) -> dict:
        """Rename a conversation."""
        return owned(lambda: store.rename(me, cid, body.title))

    @router.delete("/api/conversations/{cid}", status_code=204, responses={404: {}})
    def delete(cid: str, me: str = Depends(owner)) -> None:
        """Delete a conversation, its messages and their feedback links."""
        owned(lambda: store.delete(me, cid))

    @router.post("/api/conversations/{cid}/ask", response_model=Turn, responses={404: {}, 422: {}})
    def ask_in(cid: str, body: ConversationAsk, me: str = Depends(owner)) -> Turn:
        """Ask within a conversation: earlier turns serve follow-ups; the turn is saved."""
        history = [{"role": m["role"], "content": m["content"]} for m in owned(lambda: store.get(me, cid))["messages"]]
        result = ask(body.question, body.top_k, history, body.filters)
        return Turn(message_id=owned(lambda: store.add_turn(me, cid, body.question, result)), answer=result)

    @router.get("/api/conversations/{cid}/export", responses={200: {"content": {"text/markdown": {}}}, 404: {}})
    def export(cid: str, format: Literal["json", "md"] = "json", me: str = Depends(owner)):
        """The conversation as JSON (same as GET) or as Markdown with numbered citations and offsets."""
        conv = owned(lambda: store.get(me, cid))
        if format == "md":
            return PlainTextResponse(to_markdown(conv), media_type="text/markdown; charset=utf-8")
        return Conversation(**conv)

    @router.post("/api/feedback", status_code=201, responses={404: {}})
    def feedback(body: FeedbackIn, me: str = Depends(owner)) -> dict:
        """Thumbs up/down on an answer, optionally with the right answer and the article holding it.
        `rag feedback export` turns these into test-set rows for `rag eval`."""
        return {"id": owned(lambda: store.add_feedback(me, body.message_id, body.rating, body.correct_answer,
                                                         body.doc_id))}

    return router


def safe_ask(svc: RagService) -> Callable[[str, int | None, list[dict], Filters | None], Answer]:
    """The API's ask: filters passed to retrieval only when given; only http(s) links leave."""
    def ask(question: str, top_k: int | None, history: list[dict], filters: Filters | None) -> Answer:
        extra = {"filters": filters} if filters is not None and not filters.empty() else {}
        return only_http_links(svc.ask(question, top_k, history, **extra))

    return ask
