"""Parse one article file into an :class:`Article` (text, metadata, content spans)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from index.boilerplate import content_lines

ARTICLE_SUFFIXES = (".txt", ".md")
FALLBACK_ENCODINGS = ("cp1252", "latin-1")


class ArticleError(ValueError):
    """The file cannot be read as an article; the message says why."""


@dataclass(frozen=True)
class Article:
    doc_id: str
    path: str
    raw_text: str
    content_hash: str
    title: str
    outlet: str
    date: str | None
    url: str | None
    encoding: str = "utf-8"
    spans: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def text(self) -> str:
        """Cleaned text: the content lines, boilerplate left out."""
        return "\n".join(self.raw_text[s:e] for s, e in self.spans)

    def meta(self) -> dict[str, str | None]:
        return {"doc_id": self.doc_id, "title": self.title, "outlet": self.outlet,
                "date": self.date, "url": self.url}


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8, else a single-byte fallback; reject binary data."""
    if b"\x00" in data[:8192]:
        raise ArticleError("binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    for enc in FALLBACK_ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t\f")
        if controls > len(text) / 100:
            raise ArticleError("binary file (control bytes), not text")
        return text, enc
    raise ArticleError("undecodable bytes")  # latin-1 decodes anything; kept for clarity


_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December")
_DATE = re.compile(rf"\b({_MONTHS})\s+(\d{{1,2}}),\s+(\d{{4}})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_SOURCE = re.compile(r"^\s*source:\s*([A-Z][\w .&-]+?)(?:/\w+)?\s*$", re.IGNORECASE | re.MULTILINE)
_BYLINE = re.compile(r"^\s*by\s+\[?([A-Z][\w .&-]{1,40}?)\]?(?:\(\S*\))?\s*$", re.IGNORECASE | re.MULTILINE)
_HEADING = re.compile(r"^\s{0,3}#{1,3}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _find_date(text: str) -> str | None:
    m = _DATE.search(text)
    if m:
        return datetime.strptime(f"{m[1]} {m[2]} {m[3]}", "%B %d %Y").date().isoformat()
    m = _ISO_DATE.search(text)
    return m.group(0) if m else None


def _outlet_from_url(url: str) -> str:
    host = urlparse(url).hostname or ""
    return host.removeprefix("www.")


def _find_title(raw: str, spans: list[tuple[int, int]]) -> str:
    m = _HEADING.search(raw)
    if m:
        return m.group(1).strip()
    for s, e in spans[:5]:
        line = raw[s:e].strip()
        dateline = _DATE.search(line) and len(line) < 40
        if 15 <= len(line) <= 150 and not line.endswith((".", ":")) and not dateline:
            return line
    first = raw[spans[0][0]:spans[0][1]] if spans else ""
    return first if len(first) <= 100 else first[:97].rsplit(" ", 1)[0] + "…"


def _sidecar(path: Path) -> dict[str, str]:
    meta_path = path.with_suffix(".meta.json")
    if not meta_path.is_file():
        return {}
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArticleError(f"bad sidecar {meta_path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ArticleError(f"bad sidecar {meta_path.name}: not a JSON object")
    return {k: str(v) for k, v in data.items() if k in {"title", "outlet", "date", "url"} and v}


def parse(path: Path, data: bytes | None = None) -> Article:
    """Read ``path`` (or the given bytes) into an Article; raise ArticleError if unusable."""
    path = Path(path)
    if path.suffix.lower() not in ARTICLE_SUFFIXES:
        raise ArticleError(f"unsupported file type {path.suffix or '(none)'}; use .txt or .md")
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArticleError(f"cannot read: {exc.strerror or exc}") from exc
    raw, encoding = decode(data)
    spans = content_lines(raw)
    if not spans:
        raise ArticleError("no article text (empty or only boilerplate)")
    url_match = _URL.search(raw)
    url = url_match.group(0) if url_match else None
    source = _SOURCE.search(raw)
    byline = _BYLINE.search(raw)
    outlet = (_outlet_from_url(url) if url else None) or (source and source[1].strip()) \
        or (byline and byline[1].strip()) or "unknown"
    fields = {"title": _find_title(raw, spans), "outlet": outlet, "date": _find_date(raw), "url": url}
    fields.update(_sidecar(path))
    return Article(
        doc_id=path.stem,
        path=str(path),
        raw_text=raw,
        content_hash=hashlib.sha256(raw.encode("utf-8")).hexdigest(),
        encoding=encoding,
        spans=spans,
        **fields,
    )
