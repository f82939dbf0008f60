"""Parse one article file into an :class:`Article` (text, metadata, content spans).

``.txt``/``.md`` files are their own text. A saved page (``.html``/``.htm``) is reduced to its
article text by trafilatura; that extracted text is what is stored, chunked, cited and served.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from index import metadata
from index.boilerplate import content_lines
from index.versions import CHUNKER_VERSION, PARSER_VERSION, VECTORS_VERSION

HTML_SUFFIXES = (".html", ".htm")
ARTICLE_SUFFIXES = (".txt", ".md", *HTML_SUFFIXES)
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
SIDECAR_KEYS = ("title", "outlet", "date", "date_source", "url", "source")
# Longest first: a UTF-32 little-endian BOM begins with the UTF-16 one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class ArticleError(ValueError):
    """The file cannot be read as an article; the message says why."""


@dataclass(frozen=True)
class Article:
    doc_id: str
    path: str
    raw_text: str  # the stored text that citation offsets index
    content_hash: str  # of the stored text alone: the same story under another name is a duplicate
    title: str
    outlet: str
    date: str | None
    url: str | None
    date_source: str | None = None  # page markup, dateline, page header, sidecar, feed or dump
    source: str | None = None  # the original file name, URL or dump row
    encoding: str = "utf-8"
    spans: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def text(self) -> str:
        """Cleaned text: the content lines, boilerplate left out."""
        return "\n".join(self.raw_text[s:e] for s, e in self.spans)

    def meta(self) -> dict[str, str | None]:
        return {"doc_id": self.doc_id, "title": self.title, "outlet": self.outlet, "date": self.date,
                "url": self.url, "date_source": self.date_source, "source": self.source}


def sidecar_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.meta.json")


def file_hash(path: Path, data: bytes) -> str:
    """Hash of everything that shapes what is stored for ``path``: its bytes, its sidecar's bytes, and the
    parser's, chunker's and vectors' versions. Equal hashes mean nothing to redo."""
    digest = hashlib.sha256(f"parser {PARSER_VERSION} chunker {CHUNKER_VERSION} vectors {VECTORS_VERSION}\n".encode())
    digest.update(hashlib.sha256(data).digest())
    try:
        digest.update(sidecar_path(path).read_bytes())
    except OSError:  # no sidecar (or a name too long to have one)
        pass
    return digest.hexdigest()


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes: UTF-16/32 by their BOM, UTF-8, else a single-byte fallback; reject binary data."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return _no_nul(data.decode(enc)), enc
            except UnicodeDecodeError as exc:
                raise ArticleError(f"broken {enc} text ({exc.reason} at byte {exc.start})") from exc
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ArticleError(f"binary file (NUL byte at offset {nul}), not text")
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


def _no_nul(text: str) -> str:
    nul = text.find("\x00")
    if nul >= 0:
        raise ArticleError(f"binary file (NUL character at position {nul}), not text")
    return text


def check_name(path: Path) -> None:
    """A file name becomes a document id: refuse one carrying a newline or other control character."""
    bad = next((ch for ch in path.name if ord(ch) < 32 or ord(ch) == 127), None)
    if bad is not None:
        raise ArticleError(f"file name contains a control character ({bad!r}); rename the file")


def _exists(path: Path) -> bool:
    """False also for a name the file system cannot hold (too long to have a sidecar)."""
    try:
        return path.exists()
    except OSError:
        return False


def _sidecar(path: Path) -> dict[str, str]:
    meta_path = sidecar_path(path)
    try:
        if not meta_path.is_file():
            return {}
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except OSError as exc:
        if _exists(meta_path):
            raise ArticleError(f"cannot read sidecar {meta_path.name}: {exc.strerror or exc}") from exc
        return {}  # e.g. a name too long to have a sidecar
    except ValueError as exc:
        raise ArticleError(f"bad sidecar {meta_path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ArticleError(f"bad sidecar {meta_path.name}: not a JSON object")
    return {k: " ".join(str(data[k]).split()) for k in SIDECAR_KEYS if data.get(k)}


def _from_html(html: str, url: str | None) -> tuple[str, dict[str, str | None]]:
    """The page's article text, and the metadata its markup states."""
    from index.sources.html import ExtractionError, extract

    try:
        page = extract(html, url)
    except ExtractionError as exc:
        raise ArticleError(str(exc)) from exc
    outlet = page.sitename or (metadata.outlet_from_url(page.url) if page.url else None)
    return page.text, {"title": page.title, "outlet": outlet, "date": page.date,
                       "date_source": "page markup" if page.date else None, "url": page.url}


def _http_url(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("http://", "https://")) else None


def parse(path: Path, data: bytes | None = None) -> Article:
    """Read ``path`` (or the given bytes) into an Article; raise ArticleError if unusable.

    Metadata, strongest first: the sidecar ``NAME.meta.json``, the page's markup (HTML), then the
    lines of the text that play a role (see :mod:`index.metadata`). Unknown stays unknown.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ARTICLE_SUFFIXES:
        raise ArticleError(f"unsupported file type {path.suffix or '(none)'}; use {', '.join(ARTICLE_SUFFIXES)}")
    check_name(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArticleError(f"cannot read: {exc.strerror or exc}") from exc
    raw, encoding = decode(data)
    sidecar = _sidecar(path)
    markup: dict[str, str | None] = {}
    if suffix in HTML_SUFFIXES:
        raw, markup = _from_html(raw, _http_url(sidecar.get("url")))
    spans = content_lines(raw)
    if not spans:
        raise ArticleError("no article text (empty or only boilerplate)")
    found = metadata.read([raw[s:e] for s, e in spans], raw.splitlines())
    fields: dict[str, str | None] = {
        "title": markup.get("title") or found.title,
        "outlet": markup.get("outlet") or found.outlet or "unknown",
        "date": markup.get("date") or found.date,
        "date_source": markup.get("date_source") or found.date_source,
        "url": markup.get("url") or found.url,
        "source": sidecar.get("source") or path.name,
    }
    fields.update({k: v for k, v in sidecar.items() if k in ("title", "outlet")})
    if "date" in sidecar:
        fields["date"] = metadata.normalise_date(sidecar["date"])
        fields["date_source"] = (sidecar.get("date_source") or "sidecar") if fields["date"] else None
    if _http_url(sidecar.get("url")):
        fields["url"] = sidecar["url"]
    fields["url"] = _http_url(fields["url"])
    return Article(doc_id=path.stem, path=str(path), raw_text=raw,
                   content_hash=hashlib.sha256(raw.encode("utf-8")).hexdigest(),
                   encoding=encoding, spans=spans, **fields)
