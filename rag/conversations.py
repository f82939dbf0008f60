"""Saved conversations and answer feedback, in one small database shared by every process.

The database is named by a URL (``RAG_CONVERSATIONS_URL``, ``sqlite:///PATH``); by default a SQLite
file in ``RAG_DATA_DIR``. Each conversation belongs to an *owner*: a hash of the browser's id and,
when the request carries it, the API key. Feedback rows become test-set rows for ``rag eval``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from rag.models import Answer

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, updated);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL, content TEXT NOT NULL, answer TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, conversation_id TEXT, message_id INTEGER,
    question TEXT NOT NULL, answer TEXT NOT NULL, rating INTEGER NOT NULL, correct_answer TEXT,
    doc_id TEXT, created REAL NOT NULL);
"""
TITLE_CHARS = 80


class ConversationError(ValueError):
    """Bad conversation input (unknown id, empty title, bad database URL); the message says which."""


def owner_id(client_id: str, api_key: str | None = None) -> str:
    """Who a conversation belongs to: the browser's random id, and the API key when one was given."""
    if not client_id or len(client_id) > 200:
        raise ConversationError("a client id (1-200 characters) is needed")
    return hashlib.sha256(f"{client_id}\0{api_key or ''}".encode()).hexdigest()[:32]


def sqlite_path(url: str) -> Path:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConversationError(f"conversations database must be a sqlite:///PATH url, not {url!r}")
    return Path(url[len(prefix):])


class Conversations:
    """Conversations, their messages (answers kept as the full answer contract) and feedback."""

    def __init__(self, url: str) -> None:
        self.path = sqlite_path(url)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._db() as db:
            db.executescript(SCHEMA)

    @classmethod
    def from_settings(cls, settings) -> "Conversations":
        return cls(settings.conversations_url or f"sqlite:///{settings.data_dir / 'conversations.sqlite3'}")

    @contextmanager
    def _db(self):
        """One short connection per operation: other processes see each commit at once."""
        with self._lock:
            db = sqlite3.connect(self.path, timeout=30)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            try:
                with db:
                    yield db
            finally:
                db.close()

    # --- conversations -------------------------------------------------------

    def create(self, owner: str, title: str = "New conversation") -> dict:
        now, cid = time.time(), uuid.uuid4().hex
        with self._db() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)", (cid, owner, _title(title), now, now))
        return {"id": cid, "title": _title(title), "created": now, "updated": now}

    def list(self, owner: str) -> list[dict]:
        """Newest first."""
        with self._db() as db:
            rows = db.execute("SELECT id, title, created, updated FROM conversations WHERE owner = ? "
                              "ORDER BY updated DESC", (owner,)).fetchall()
        return [dict(r) for r in rows]

    def get(self, owner: str, cid: str) -> dict:
        """The conversation with its messages, oldest first; an assistant message carries its ``answer``."""
        with self._db() as db:
            conv = self._owned(db, owner, cid)
            msgs = db.execute("SELECT id, role, content, answer, created FROM messages WHERE conversation_id = ? "
                              "ORDER BY id", (cid,)).fetchall()
        messages = [{**dict(m), "answer": json.loads(m["answer"]) if m["answer"] else None} for m in msgs]
        return {**conv, "messages": messages}

    def rename(self, owner: str, cid: str, title: str) -> dict:
        with self._db() as db:
            self._owned(db, owner, cid)
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (_title(title), cid))
        return self.get(owner, cid)

    def delete(self, owner: str, cid: str) -> None:
        with self._db() as db:
            self._owned(db, owner, cid)
            db.execute("DELETE FROM conversations WHERE id = ?", (cid,))

    def add_turn(self, owner: str, cid: str, question: str, result: Answer) -> int:
        """Store a question and its answer; the first question names the conversation. The answer's id."""
        now = time.time()
        with self._db() as db:
            conv = self._owned(db, owner, cid)
            db.execute("INSERT INTO messages (conversation_id, role, content, answer, created) VALUES (?,?,?,?,?)",
                       (cid, "user", question, None, now))
            cur = db.execute("INSERT INTO messages (conversation_id, role, content, answer, created) "
                             "VALUES (?,?,?,?,?)", (cid, "assistant", result.answer, result.model_dump_json(), now))
            title = _title(question) if conv["title"] == "New conversation" else conv["title"]
            db.execute("UPDATE conversations SET updated = ?, title = ? WHERE id = ?", (now, title, cid))
            return int(cur.lastrowid)

    def answer(self, owner: str, message_id: int) -> Answer | None:
        """The answer stored with one of this owner's assistant messages."""
        with self._db() as db:
            row = db.execute("SELECT m.answer FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                             "WHERE m.id = ? AND c.owner = ?", (message_id, owner)).fetchone()
        return Answer.model_validate_json(row["answer"]) if row and row["answer"] else None

    @staticmethod
    def _owned(db: sqlite3.Connection, owner: str, cid: str) -> dict:
        row = db.execute("SELECT id, title, created, updated FROM conversations WHERE id = ? AND owner = ?",
                         (cid, owner)).fetchone()
        if row is None:
            raise KeyError(cid)
        return dict(row)

    # --- feedback ------------------------------------------------------------

    def add_feedback(self, owner: str, message_id: int, rating: int, correct_answer: str | None = None,
                     doc_id: str | None = None) -> int:
        """Thumbs up (+1) or down (-1) on an answer, optionally with the right answer and the article
        holding it. A later vote on the same answer replaces the earlier one."""
        if rating not in (1, -1):
            raise ConversationError("rating must be 1 or -1")
        with self._db() as db:
            row = db.execute("SELECT m.id, m.conversation_id, m.answer FROM messages m JOIN conversations c "
                             "ON c.id = m.conversation_id WHERE m.id = ? AND c.owner = ? AND m.role = 'assistant'",
                             (message_id, owner)).fetchone()
            if row is None:
                raise KeyError(message_id)
            question = json.loads(row["answer"])["question"]
            db.execute("DELETE FROM feedback WHERE message_id = ? AND owner = ?", (message_id, owner))
            cur = db.execute("INSERT INTO feedback (owner, conversation_id, message_id, question, answer, rating, "
                             "correct_answer, doc_id, created) VALUES (?,?,?,?,?,?,?,?,?)",
                             (owner, row["conversation_id"], message_id, question, row["answer"], rating,
                              (correct_answer or "").strip() or None, doc_id or None, time.time()))
            return int(cur.lastrowid)

    def feedback(self) -> list[dict]:
        """Every feedback row in the order the answers were given (all owners: the operator's export)."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM feedback ORDER BY message_id, id").fetchall()
        return [{**dict(r), "answer": json.loads(r["answer"])} for r in rows]


def _title(text: str) -> str:
    title = " ".join((text or "").split())[:TITLE_CHARS]
    if not title:
        raise ConversationError("title is empty")
    return title


def feedback_testset(feedback: list[dict]) -> tuple[list[dict], int]:
    """Feedback as `rag eval` test-set rows (id, question, answers, sources, answerable), and how many
    rows said too little to become one (a thumbs down without the right answer)."""
    rows, skipped = [], 0
    for fb in feedback:
        ans = fb["answer"]
        cites = ans.get("citations") or []
        if fb["correct_answer"]:
            holding = [c["doc_id"] for c in cites if fb["correct_answer"].lower() in c["quote"].lower()]
            sources = [fb["doc_id"]] if fb["doc_id"] else holding[:1]
            row = {"answers": [fb["correct_answer"]], "sources": sources, "answerable": True}
        elif fb["rating"] == 1 and ans["abstained"]:
            row = {"answers": [], "sources": [], "answerable": False}
        elif fb["rating"] == 1 and cites:
            s, e = ans.get("highlight") or (0, len(ans["answer"]))
            row = {"answers": [ans["answer"][s:e]], "sources": [cites[0]["doc_id"]], "answerable": True}
        else:
            skipped += 1
            continue
        rows.append({"id": f"feedback-{fb['id']}", "question": fb["question"], **row})
    return rows, skipped


def to_markdown(conv: dict) -> str:
    """A conversation as Markdown: each question, its answer and numbered citations with offsets."""
    lines = [f"# {conv['title']}", ""]
    for m in conv["messages"]:
        if m["role"] == "user":
            lines += [f"**Q:** {m['content']}", ""]
            continue
        ans = m["answer"] or {}
        lines += [("Not found in the articles. " if ans.get("abstained") else "") + m["content"], ""]
        for i, c in enumerate(ans.get("citations") or [], 1):
            where = f"{c['doc_id']}:{c['start']}-{c['end']}"
            link = f" <{c['url']}>" if (c.get("url") or "").startswith(("http://", "https://")) else ""
            lines.append(f"{i}. {c['title']} ({c['outlet']}, {c.get('date') or 'undated'}){link} [{where}]  ")
            lines.append(f"   > {' '.join(c['quote'].split())}")
        lines.append("")
    return "\n".join(lines)
