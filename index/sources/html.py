"""Main text and metadata of a news page, by trafilatura (with htmldate for the publication date).

trafilatura is built for news and blog pages: it keeps the story and leaves out menus, comments,
related-link lists and footers, and reads title, author, site name and canonical URL from the
page's markup. Only the publication date that the markup states (meta tags, JSON-LD, ``<time>``)
is taken; htmldate's search of the visible text is off, since a date in a story is not its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


class ExtractionError(ValueError):
    """The page holds no article text."""


@dataclass(frozen=True)
class Page:
    text: str
    title: str | None
    author: str | None
    sitename: str | None
    date: str | None  # YYYY-MM-DD from the page's markup
    url: str | None  # canonical URL


def extract(html: str, url: str | None = None) -> Page:
    """The article in ``html`` (fetched from ``url``, when known)."""
    from trafilatura import bare_extraction

    doc = bare_extraction(html, url=url, with_metadata=True, include_comments=False, include_tables=False,
                          favor_precision=True,
                          date_extraction_params={"extensive_search": False, "original_date": True})
    text = (doc.text or "").strip() if doc else ""
    if not text:
        raise ExtractionError("no article text found in the page")
    page_url = _clean(doc.url)
    sitename = _clean(doc.sitename)
    if sitename and page_url and sitename in {urlsplit(page_url).netloc, urlsplit(page_url).hostname}:
        sitename = None  # trafilatura's stand-in from the address, not a name the page states
    return Page(text=text, title=_clean(doc.title), author=_clean(doc.author), sitename=sitename,
                date=_clean(doc.date), url=page_url)


def _clean(value: object) -> str | None:
    value = " ".join(str(value).split()) if value else ""
    return value or None


def fragment_text(html: str) -> str:
    """The text of an HTML fragment (a feed item's content or summary), paragraphs on their own lines."""
    try:
        return extract(f"<html><body><article>{html}</article></body></html>").text
    except ExtractionError:
        from lxml import html as lxml_html
        from lxml.etree import ParserError

        try:
            return " ".join(lxml_html.fromstring(html).text_content().split())
        except (ParserError, ValueError):
            return ""
