"""Articles that arrive as data (fetched pages, feed items, dump rows) become corpus files.

Each is written as ``<id>.txt`` (the article text, exactly as stored and cited) beside a
``<id>.meta.json`` sidecar holding what its source stated (title, outlet, date and where the date came
from, url, source). From there the ordinary file ingest takes over: content hashes decide what is
embedded, and the same story arriving twice, by any route, is a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

_UNSAFE = re.compile(r"[^\w.-]+", re.ASCII)
MAX_ID_CHARS = 100


@dataclass(frozen=True)
class NewsItem:
    text: str
    title: str | None = None
    outlet: str | None = None
    date: str | None = None  # YYYY-MM-DD
    date_source: str | None = None
    url: str | None = None
    source: str | None = None  # the URL, feed or dump row it came from

    def sidecar(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k != "text" and v}


def safe_id(*parts: str) -> str:
    """A document id (and file stem) from free text: ASCII letters, digits, '_', '-', '.', never a dot first."""
    joined = "-".join(p for p in (_UNSAFE.sub("_", part).strip("._-") for part in parts) if p)
    return joined[:MAX_ID_CHARS].rstrip("._-") or "item"


def url_id(url: str) -> str:
    """A readable, stable id for the article at ``url``: host, last path words and a short hash."""
    parts = urlsplit(url)
    words = [w for w in parts.path.split("/") if w][-1:] or ["index"]
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return safe_id((parts.hostname or "web").removeprefix("www."), words[0][:50], digest)


def text_id(prefix: str, text: str) -> str:
    return safe_id(prefix, hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])


def write(folder: Path, doc_id: str, item: NewsItem) -> tuple[Path, bool]:
    """Write ``item`` as ``folder/<doc_id>.txt`` plus its sidecar; ``(path, created)``.

    Nothing is written when the file already holds this text and metadata (whatever its source):
    re-fetching an unchanged article changes no file, so nothing is embedded again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path, meta_path = folder / f"{doc_id}.txt", folder / f"{doc_id}.meta.json"
    created = not path.exists()
    new_meta = item.sidecar()
    if not created and _same(path, meta_path, item.text, new_meta):
        return path, False
    _atomic_write(meta_path, json.dumps(new_meta, ensure_ascii=False, indent=1).encode("utf-8"))
    _atomic_write(path, item.text.encode("utf-8"))
    return path, created


def remove(path: Path) -> None:
    """Take back a file written by :func:`write` (e.g. refused as a duplicate)."""
    path.unlink(missing_ok=True)
    path.with_name(f"{path.stem}.meta.json").unlink(missing_ok=True)


def _same(path: Path, meta_path: Path, text: str, meta: dict[str, str]) -> bool:
    try:
        old_meta = json.loads(meta_path.read_text(encoding="utf-8"))
        old_text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return False
    ignore = {"source"}
    return old_text == text and {k: v for k, v in old_meta.items() if k not in ignore} == \
        {k: v for k, v in meta.items() if k not in ignore}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    tmp.replace(path)
