"""An incremental BM25 index (Lucene's variant, as bm25s scores it).

Articles come and go one at a time: adding or removing a passage touches only its own
terms, so an index change never rebuilds the whole corpus (bm25s can only be rebuilt).
A query's cost is the length of its terms' posting lists.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Iterable

import numpy as np

# Posting lists kept as arrays for the terms queried most recently, at most this many entries in all (12 bytes
# each: about 12 MB). Unbounded, the cache grew with every new query term, by up to a megabyte for a common word
# at 10,000 articles (86 MB over 1,000 distinct questions).
ARRAY_CACHE_ENTRIES = 1_000_000


class BM25:
    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._row: dict[str, int] = {}  # passage id -> row
        self._pids: list[str | None] = []  # row -> passage id (None: removed)
        self._free: list[int] = []  # rows of removed passages, reused first
        self._length = np.zeros(0, dtype=np.float32)
        self._terms: dict[int, tuple[str, ...]] = {}  # row -> its distinct terms (what a removal touches)
        self._postings: dict[str, dict[int, int]] = {}  # term -> {row: term frequency}
        self._arrays: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()  # see ARRAY_CACHE_ENTRIES
        self._array_entries = 0
        self._total = 0

    def __getstate__(self) -> dict:
        """What is saved (rag.lexical_cache): the index, not the query-time array cache."""
        return {**self.__dict__, "_arrays": OrderedDict(), "_array_entries": 0}

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, pid: str) -> bool:
        return pid in self._row

    def add(self, pid: str, terms: Iterable[str]) -> None:
        if pid in self._row:
            self.remove(pid)
        counts = Counter(terms)
        row = self._free.pop() if self._free else len(self._pids)
        if row == len(self._pids):
            self._pids.append(pid)
            if row >= len(self._length):
                self._length = np.concatenate([self._length, np.zeros(max(1024, row), dtype=np.float32)])
        else:
            self._pids[row] = pid
        self._row[pid] = row
        self._terms[row] = tuple(counts)
        self._length[row] = n = sum(counts.values())
        self._total += n
        for term, tf in counts.items():
            self._postings.setdefault(term, {})[row] = tf
            self._forget(term)

    def remove(self, pid: str) -> None:
        row = self._row.pop(pid, None)
        if row is None:
            return
        for term in self._terms.pop(row):
            posting = self._postings[term]
            del posting[row]
            if not posting:
                del self._postings[term]
            self._forget(term)
        self._total -= int(self._length[row])
        self._length[row] = 0
        self._pids[row] = None
        self._free.append(row)

    def _forget(self, term: str) -> None:
        got = self._arrays.pop(term, None)
        if got is not None:
            self._array_entries -= len(got[0])

    def _posting(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        got = self._arrays.get(term)
        if got is not None:
            self._arrays.move_to_end(term)
            return got
        posting = self._postings.get(term, {})
        got = (np.fromiter(posting.keys(), dtype=np.int64, count=len(posting)),
               np.fromiter(posting.values(), dtype=np.float32, count=len(posting)))
        self._arrays[term] = got
        self._array_entries += len(posting)
        while self._array_entries > ARRAY_CACHE_ENTRIES and len(self._arrays) > 1:
            self._forget(next(iter(self._arrays)))
        return got

    def search(self, terms: Iterable[str], k: int, allowed: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best passages with a positive score, best first; ``allowed`` limits the search
        to those passage ids (a filter applied inside the search, not after it)."""
        n = len(self._row)
        if not n or k <= 0:
            return []
        avg = self._total / n or 1.0
        scores = np.zeros(len(self._pids), dtype=np.float32)
        for term in set(terms):
            rows, tf = self._posting(term)
            if not len(rows):
                continue
            idf = math.log(1 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
            norm = self.k1 * (1 - self.b + self.b * self._length[rows] / avg)
            scores[rows] += idf * tf / (tf + norm)
        if allowed is not None:
            mask = np.zeros(len(scores), dtype=bool)
            mask[[self._row[p] for p in allowed if p in self._row]] = True
            scores[~mask] = 0.0
        top = np.argpartition(-scores, min(k, len(scores) - 1))[:k] if len(scores) > k else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._pids[r], float(scores[r])) for r in top if scores[r] > 0]
