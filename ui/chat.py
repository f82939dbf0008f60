"""Gradio chat over :class:`rag.service.RagService`: a thin shell, no retrieval or answering here.

Article text is data: everything taken from an article (answer, quotes, titles, full text)
is HTML-escaped before it reaches the page, and each message is one raw-HTML line so that
the chatbot's Markdown renderer never interprets article text either.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
from gradio import utils as gr_utils

from index.article import ArticleError
from rag.models import Answer, Citation, DocumentInfo
from rag.service import NotFound, QuestionError, RagService
from rag.settings import Settings
from ui.web_security import CHAT_KEY_COOKIE, has_write_key, uploaded_file

CSS = """
.rag-answer { font-size: 1.05em; margin-bottom: .4em; }
.rag-abstain { border-left: 4px solid #d97706; padding-left: .6em; }
.rag-sources { font-size: .9em; }
.rag-cite { margin: .35em 0; padding: .3em .6em; border: 1px solid var(--border-color-primary); border-radius: 6px; }
.rag-cite .rag-title, .rag-docs .rag-title { font-weight: 600; font-size: inherit; }
.rag-cite blockquote { margin: .2em 0; padding-left: .6em; border-left: 3px solid #60a5fa; }
.rag-cite summary { cursor: pointer; color: var(--body-text-color-subdued); }
.rag-article { max-height: 18em; overflow-y: auto; padding: .4em; }
.rag-cite mark, .rag-article mark { background: #fde68a; color: #111; }
.rag-docs li { margin-bottom: .4em; }
"""

CONTEXT_CHARS = 600  # article text shown around a quote when a citation is expanded
_WORD = re.compile(r"\S+\s*|\s+")
_BLANKS = re.compile(r"\n{3,}")


def word_chunks(text: str) -> list[str]:
    """Split text into word chunks (trailing whitespace kept) that join back to ``text``."""
    return _WORD.findall(text)


def esc(text: str) -> str:
    """Escape article text for a one-line raw-HTML chat message (newlines become <br>)."""
    return html.escape(text).replace("$", "&#36;").replace("\r", "").replace("\n", "<br>")


def _source_line(c: Citation | DocumentInfo) -> str:
    parts = [f'<span class="rag-title">{esc(c.title)}</span>', esc(c.outlet), esc(c.date or "undated")]
    if c.url and c.url.startswith(("http://", "https://")):
        parts.append(f'<a href="{html.escape(c.url, quote=True)}" target="_blank" '
                     f'rel="noopener noreferrer nofollow">original article</a>')
    return " · ".join(parts)


def render_citation(n: int, c: Citation, service: RagService) -> str:
    """Outlet, date, link and quote; a <details> shows the quote marked inside its article."""
    try:
        text = service.document(c.doc_id).text
    except NotFound:  # deleted since the answer was made
        text = ""
    if text and text[c.start:c.end] == c.quote:
        lo, hi = max(0, c.start - CONTEXT_CHARS), c.end + CONTEXT_CHARS
        before = ("…" if lo else "") + _BLANKS.sub("\n\n", text[lo:c.start])
        after = _BLANKS.sub("\n\n", text[c.end:hi]) + ("…" if hi < len(text) else "")
        article = f'{esc(before)}<mark>{esc(c.quote)}</mark>{esc(after)}'
    else:
        article = f"<mark>{esc(c.quote)}</mark>"
    also = f"; also in {esc(', '.join(c.also_in))}" if c.also_in else ""
    return (f'<div class="rag-cite">[{n}] {_source_line(c)}<blockquote>{esc(c.quote)}</blockquote>'
            f'<details><summary>Show in article ({esc(c.doc_id)}, characters {c.start}–{c.end}{also})</summary>'
            f'<div class="rag-article">{article}</div></details></div>')


def render_answer(result: Answer, service: RagService) -> str:
    """The final chat message: the answer, then its citations (none for an abstention)."""
    if result.abstained:
        return (f'<div class="rag-answer rag-abstain"><b>No answer found.</b> {esc(result.answer)}</div>')
    text = result.answer
    if result.highlight:
        s, e = result.highlight
        body = f"{esc(text[:s])}<strong>{esc(text[s:e])}</strong>{esc(text[e:])}"
    else:
        body = esc(text)
    cites = "".join(render_citation(i, c, service) for i, c in enumerate(result.citations, 1))
    return f'<div class="rag-answer">{body}</div><div class="rag-sources"><b>Sources</b>{cites}</div>'


def render_documents(docs: list[DocumentInfo]) -> str:
    items = "".join(f"<li>{_source_line(d)}</li>" for d in docs)
    return f'<p>{len(docs)} articles indexed</p><ol class="rag-docs">{items}</ol>'


def _plain(content) -> str:
    """Text of a chat message's content (a string or Gradio's list of content parts), tags removed."""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        return ""
    content = content.split('<div class="rag-sources">')[0]  # the answer, not its citations
    return html.unescape(re.sub(r"<[^>]+>", " ", content)).strip()


def to_history(messages: list[dict]) -> list[dict[str, str]]:
    """Gradio chat history as the service's [{"role", "content"}] list of plain-text turns."""
    return [{"role": m["role"], "content": _plain(m.get("content"))}
            for m in messages if m.get("role") in ("user", "assistant")]


# Questions the bundled seed articles answer (not from the evaluation set); pass your own to
# build_chat(examples=...) for another corpus.
EXAMPLES = [
    "Why did Myanmar's junta leader travel to Moscow?",
    "Who is Nikolai Patrushev?",
    "Who is Aung San Suu Kyi?",
]


def build_chat(service: RagService, settings: Settings | None = None,
               examples: list[str] | None = None) -> gr.Blocks:
    """Chat with streamed, cited answers; a sidebar lists the corpus and takes uploads.

    ``settings`` (default: the service's) give the upload limit and the key uploads need.
    """
    settings = settings or service.settings

    def chat(message: str, history: list[dict]) -> Iterator[str]:
        """Answer a question about the news articles; the reply is HTML with the citations."""
        try:
            result = service.ask(message, history=to_history(history))
        except QuestionError as exc:
            yield f"<b>Cannot ask that:</b> {esc(str(exc))}"
            return
        partial = ""
        for chunk in word_chunks(result.answer):
            partial += chunk
            yield esc(partial)
        yield render_answer(result, service)

    def documents() -> str:
        return render_documents(service.documents())

    upload_dir = gr_utils.get_upload_folder()

    def may_write(key: str, request: gr.Request | None) -> bool:
        """No key configured, or the typed key, or this browser's unlock cookie (see /api/chat-key)."""
        cookie = request.cookies.get(CHAT_KEY_COOKIE) if request is not None else None
        return has_write_key(settings.api_key, f"Bearer {key}" if key else None, cookie)

    def add_one(name: str, path: str) -> str:
        try:
            file = uploaded_file(path, upload_dir)
            if file.stat().st_size > settings.max_upload_bytes:
                raise ArticleError(f"file is larger than {settings.max_upload_bytes} bytes")
            report = service.add_document(file.name, file.read_bytes())
        except (ArticleError, PermissionError) as exc:
            return f"{name}: not added: {exc}"
        what = "updated" if report.updated else "added" if report.added else "unchanged"
        return f"{name}: {what} ({report.passages_embedded} passages indexed)"

    def upload(files: list[str] | None, key: str = "", request: gr.Request = None) -> tuple[str, str, None]:
        """Add one or many .txt/.md files; one result line per file."""
        if not files:
            return "Choose .txt or .md files first.", documents(), None
        if not may_write(key, request):
            return "Not added: wrong or missing API key.", documents(), None
        lines = [add_one(Path(f).name, f) for f in files]
        added = sum(": added" in line or ": updated" in line for line in lines)
        return f"Added {added} of {len(lines)}.\n" + "\n".join(lines), documents(), None

    def delete(doc_id: str, key: str = "", request: gr.Request = None) -> tuple[str, str]:
        """Remove one article (needs the key when RAG_API_KEY is set)."""
        if not may_write(key, request):
            return "Not deleted: wrong or missing API key.", documents()
        try:
            service.delete_document(doc_id)
        except NotFound:
            return f"No article {doc_id!r}.", documents()
        return f"Deleted {doc_id}.", documents()

    with gr.Blocks(title="News Q&A", analytics_enabled=False, fill_height=True) as demo:
        with gr.Sidebar(label="Corpus", open=True, width=340):
            gr.Markdown("### Articles")
            doc_list = gr.HTML(documents, padding=False)
            gr.Markdown("### Add an article\n`.txt` or `.md`; indexed at once.")
            file = gr.File(label="Article files", file_types=[".txt", ".md"], type="filepath", file_count="multiple")
            key = gr.Textbox(label="API key", type="password", visible=bool(settings.api_key))
            add = gr.Button("Add article", variant="primary")
            status = gr.Textbox(label="Upload status", interactive=False, lines=2)
        gr.ChatInterface(
            chat,
            chatbot=gr.Chatbot(label="Answers", latex_delimiters=[], height="70vh",
                               placeholder="Ask about the news articles. Every answer cites its sources."),
            textbox=gr.Textbox(placeholder="Ask a question about the articles…", submit_btn=True,
                               elem_id="question"),
            examples=EXAMPLES if examples is None else examples or None,
            title="News Q&A",
            description="Extractive answers quoted from the indexed articles, with exact citations.",
            api_name="chat",
            fill_height=True,
        )
        add.click(upload, [file, key], [status, doc_list, file], api_name="add_article")
        doc_id = gr.Textbox(visible=False)
        gr.Button("delete", visible=False).click(delete, [doc_id, key], [status, doc_list], api_name="delete_article")
        demo.load(documents, None, doc_list, api_visibility="undocumented")
    return demo.queue(default_concurrency_limit=4)
