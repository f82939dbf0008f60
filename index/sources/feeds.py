"""RSS and Atom feeds, read by feedparser (RSS 0.9x/1.0/2.0 and Atom, with their date formats and quirks)."""

from __future__ import annotations

import time
from dataclasses import dataclass


class FeedError(ValueError):
    """The bytes are not a feed."""


@dataclass(frozen=True)
class Entry:
    link: str | None
    title: str | None
    date: str | None  # YYYY-MM-DD
    content_html: str  # the feed's own text for the item (full content, else the summary)


@dataclass(frozen=True)
class Feed:
    title: str | None
    entries: list[Entry]


def read_feed(data: bytes) -> Feed:
    import feedparser

    parsed = feedparser.parse(data)
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        raise FeedError(f"not an RSS or Atom feed ({parsed.get('bozo_exception') or 'no items'})")
    entries = []
    for e in parsed.entries:
        content = (e.get("content") or [{}])[0].get("value") or e.get("summary") or ""
        when = e.get("published_parsed") or e.get("updated_parsed")
        entries.append(Entry(link=_http(e.get("link")), title=(e.get("title") or "").strip() or None,
                             date=time.strftime("%Y-%m-%d", when) if when else None, content_html=content))
    return Feed(title=(parsed.feed.get("title") or "").strip() or None, entries=entries)


def _http(link: str | None) -> str | None:
    return link if link and link.lower().startswith(("http://", "https://")) else None
