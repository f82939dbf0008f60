"""The in-memory index (lexical index, word vectors, article texts) saved beside the index, so that a new process starts from it.

Building it from the store costs a read of every passage and a BM25 pass over each (about 15 s at
3,000 articles); loading the saved copy costs about a tenth of that. The file is a cache, never the
truth: it records each article's content hash, and ``RagService.snapshot`` reloads from the store
every article whose hash differs or that the file lacks, and drops those the store no longer has.
So a stale, partial or foreign file costs time, never a wrong answer.

The file is a pickle in the data folder, which the app alone writes (like the embedded Chroma
files beside it). It is ignored unless written by the same code (a fingerprint of the modules that
shape the lexical index), for the same live collection and embedding model.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import NamedTuple

from rag.retrieve import LexicalIndex
from rag.word_vectors import WordVectors

log = logging.getLogger(__name__)

RESYNC_SHARE = 0.05  # saved again once this share of the held articles changed since the last save
_SHAPING_MODULES = ("index.store", "index.text", "rag.bm25", "rag.fields", "rag.retrieve", "rag.word_vectors",
                    "rag.lexical_cache")


@cache  # the code this process runs, read once (not whatever is on disk by the time it saves)
def _fingerprint() -> str:
    import importlib

    digest = hashlib.sha256()
    for name in _SHAPING_MODULES:
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    return digest.hexdigest()


@contextmanager
def _no_collection() -> Iterator[None]:
    """The cyclic garbage collector off: loading millions of small objects, it would run over and over,
    finding nothing (0.26 s instead of 0.5-0.7 s at 3,000 articles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Held(NamedTuple):
    """What a process holds in memory about the index, saved as one file."""

    lexical: LexicalIndex
    hashes: dict[str, str]  # doc_id -> content hash of the articles held
    words: WordVectors  # the model's dictionary and the held articles' other words (and any held before)
    texts: dict[str, str]  # doc_id -> the article's text as indexed (the answer reads on into it)

    @classmethod
    def empty(cls, dictionary: Callable[[], set[str]]) -> "Held":
        return cls(LexicalIndex(dictionary=dictionary), {}, WordVectors(), {})


def due(changed: int, held: int) -> bool:
    """Whether ``changed`` articles of ``held`` are enough to save the index again (``RESYNC_SHARE``)."""
    return changed > 0 and changed >= RESYNC_SHARE * held


class LexicalCache:
    """One data folder's saved lexical index (``data_dir/lexical/<live collection>.pickle``)."""

    def __init__(self, folder: Path, model: str) -> None:
        self.folder = folder
        self.model = model
        self.unsaved = 0  # articles reloaded or dropped since the file was last written

    def _key(self, live: str) -> dict[str, str]:
        return {"fingerprint": _fingerprint(), "live": live, "model": self.model}

    def load(self, live: str, dictionary: Callable[[], set[str]]) -> Held | None:
        """What was saved; None when there is no usable file."""
        path = self.folder / f"{live}.pickle"
        try:
            with path.open("rb") as f, _no_collection():
                if pickle.load(f) != self._key(live):
                    return None
                held = Held(*pickle.load(f))
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file is rebuilt, never trusted
            log.warning("ignoring the saved lexical index %s: %s", path, exc)
            return None
        held.lexical.attach(dictionary)
        return held

    def changed(self, n: int, live: str, held: Held) -> None:
        """Note ``n`` articles reloaded or dropped; save once enough changed that a new process
        would otherwise reload more than ``RESYNC_SHARE`` of the corpus."""
        self.unsaved += n
        if due(self.unsaved, len(held.hashes)):
            self.save(live, held)

    def save(self, live: str, held: Held) -> None:
        """Write the file beside its final name, then rename; files of other collections go."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{live}.pickle"
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.part")  # one per writer
        try:
            with tmp.open("wb") as f:
                pickle.dump(self._key(live), f, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(tuple(held), f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
        except OSError as exc:  # a read-only or full disk: the next start rebuilds from the store
            log.warning("could not save the lexical index to %s: %s", path, exc)
            tmp.unlink(missing_ok=True)
            return
        self.unsaved = 0
        for other in self.folder.glob("*.pickle"):
            if other != path:
                other.unlink(missing_ok=True)
