"""HTML for the chat: answer first, the best source as a card, the rest folded; refusals with evidence.

Article text is data: everything taken from an article is HTML-escaped, and each message is one
raw-HTML line so that the chatbot's Markdown renderer never interprets article text. What a reader
sees is cleaned of page furniture (``**``, ``[AFP](#)``); citations keep their raw offsets.
"""

from __future__ import annotations

import html
import logging
import re

from rag.models import Answer, Citation, DocumentInfo
from ui.web_security import http_url

log = logging.getLogger(__name__)

CONTEXT_CHARS = 600  # article text shown around a quote when a citation is expanded
KEEP_RELATIVE = 0.6  # sources scoring under this share of the best one are dropped
REFUSAL_PASSAGES = 3
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\s]*\)")
_FURNITURE = re.compile(r"\*\*|__|^#{1,6}\s+", re.M)
_BLANKS = re.compile(r"\n{3,}")


def clean(text: str) -> str:
    """Reader-facing text: Markdown links become their label, bold marks and heading hashes go."""
    return _FURNITURE.sub("", _LINK.sub(r"\1", text))


def esc(text: str) -> str:
    """Escape article text for a one-line raw-HTML chat message (newlines become <br>)."""
    return html.escape(text).replace("$", "&#36;").replace("\r", "").replace("\n", "<br>")


def show(text: str) -> str:
    return esc(clean(text))


def source_line(c: Citation | DocumentInfo) -> str:
    parts = [f'<span class="rag-title">{show(c.title)}</span>', show(c.outlet), esc(c.date or "undated")]
    if url := http_url(c.url):
        parts.append(f'<a href="{html.escape(url, quote=True)}" target="_blank" '
                     f'rel="noopener noreferrer nofollow">original article</a>')
    return " · ".join(parts)


def in_article(c: Citation, text: str | None) -> str:
    """The quote marked inside its article; a quote that is not the article's text at its offsets is
    logged and said so on the page, never silently shown alone."""
    if text is None:
        return '<p class="rag-note">This article has since been deleted.</p>'
    if text[c.start:c.end] != c.quote:
        log.warning("citation mismatch: %s[%d:%d] is not the quoted text", c.doc_id, c.start, c.end)
        return (f'<p class="rag-mismatch">Warning: this quote is not the article\'s text at characters '
                f'{c.start}–{c.end}.</p>')
    lo, hi = max(0, c.start - CONTEXT_CHARS), c.end + CONTEXT_CHARS
    before = ("…" if lo else "") + _BLANKS.sub("\n\n", text[lo:c.start])
    after = _BLANKS.sub("\n\n", text[c.end:hi]) + ("…" if hi < len(text) else "")
    return f'<div class="rag-article">{show(before)}<mark>{show(c.quote)}</mark>{show(after)}</div>'


def relevance(c: Citation, best: float) -> float:
    return max(0.0, min(1.0, c.score / best)) if best > 0 else 0.0


def card(n: int, c: Citation, rel: float, text: str | None, index: int) -> str:
    """One source: title line, relevance bar, the quote; its place in the article and raw ids folded.

    ``index`` is the citation's place in the answer's list (class ``rag-cite-N``: the chat's sanitizer keeps
    classes, not data attributes): a click on the card after a thumbs down names the passage that holds the
    right answer."""
    pct = round(rel * 100)
    bar = (f'<span class="rag-rel" title="relevance {pct}% of the best source">'
           f'<span class="rag-rel-fill rag-w{min(10, round(rel * 10))}"></span></span>')
    context = in_article(c, text)
    warn = context if 'class="rag-mismatch"' in context else ""
    also = f"; also in {esc(', '.join(c.also_in))}" if c.also_in else ""
    return (f'<div class="rag-cite"><div class="rag-src rag-cite-{index}">[{n}] {source_line(c)} {bar}</div>'
            f'<blockquote>{show(c.quote)}</blockquote>{warn}'
            f'<details class="rag-context"><summary>Show in article</summary>{"" if warn else context}</details>'
            f'<details class="rag-ids"><summary>details</summary><span>article {esc(c.doc_id)}, characters '
            f'{c.start}–{c.end}{also}, relevance {pct}%</span></details></div>')


def sources(citations: list[Citation], texts: dict[str, str | None], label: str = "sources") -> str:
    """The best source as a card; the others (those not far below it) folded under "N more sources"."""
    if not citations:
        return ""
    best = max(c.score for c in citations)
    kept = [(i, c) for i, c in enumerate(citations) if relevance(c, best) >= KEEP_RELATIVE] or [(0, citations[0])]
    cards = [card(n, c, relevance(c, best), texts.get(c.doc_id), i) for n, (i, c) in enumerate(kept, 1)]
    more = (f'<details class="rag-more"><summary>{len(cards) - 1} more {label}</summary>{"".join(cards[1:])}'
            f'</details>') if len(cards) > 1 else ""
    return f'<div class="rag-sources">{cards[0]}{more}</div>'


def render_answer(result: Answer, texts: dict[str, str | None]) -> str:
    """The final chat message. ``texts`` maps each cited article to its raw text (None: deleted)."""
    if result.abstained:
        closest = result.citations[:REFUSAL_PASSAGES]
        lead = "Not found in the articles." + (" Closest passages:" if closest else "")
        return (f'<div class="rag-final rag-refusal"><div class="rag-answer"><b>{lead}</b></div>'
                f'{sources(closest, texts, "passages")}</div>')
    text = result.answer
    if result.highlight:
        s, e = result.highlight
        body = f'{show(text[:s])}<mark class="rag-hl">{show(text[s:e])}</mark>{show(text[e:])}'
    else:
        body = show(text)
    return f'<div class="rag-final"><div class="rag-answer">{body}</div>{sources(result.citations, texts)}</div>'


def render_status(articles: int) -> str:
    return f'<div class="rag-status">Searching {articles} articles…</div>'


def render_documents(docs: list[DocumentInfo], can_delete: bool) -> str:
    """The article list; each entry has a delete button (the chat's script routes its click)."""
    def item(d: DocumentInfo) -> str:
        button = (f'<button class="rag-del" data-doc="{html.escape(d.doc_id, quote=True)}" '
                  f'title="Delete this article">Delete</button>') if can_delete else ""
        return f"<li>{source_line(d)} {button}</li>"

    return f'<p>{len(docs)} articles indexed</p><ol class="rag-docs">{"".join(item(d) for d in docs)}</ol>'


def plain(content) -> str:
    """Text of a chat message's content (a string or Gradio's list of content parts): the answer only."""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        return ""
    content = content.split('<div class="rag-sources">')[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", content.replace("<br>", " "))).split())
