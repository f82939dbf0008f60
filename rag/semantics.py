"""Embedding-based evidence for answer selection: each candidate sentence's cosine to the question.

Sentence vectors are kept in a bounded least-recently-used cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

Embed = Callable[[list[str]], list[list[float]]]
CACHE_SIZE = 50_000  # vectors kept (384 floats each: about 77 MB at most)


class Semantics:
    def __init__(self, embed_texts: Embed, embed_query: Callable[[str], list[float]]) -> None:
        self._embed_texts = embed_texts
        self._embed_query = embed_query
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def vectors(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            known = {t: self._vectors[t] for t in dict.fromkeys(texts) if t in self._vectors}
            for t in known:
                self._vectors.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = dict(zip(missing, np.asarray(self._embed_texts(missing), dtype=np.float32)))
            known.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > CACHE_SIZE:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def similarity(self, question: str, sentences: list[str]) -> list[float]:
        """Cosine of each sentence to the question (vectors are normalised)."""
        if not sentences:
            return []
        q = np.asarray(self._embed_query(question), dtype=np.float32)
        return (self.vectors(sentences) @ q).tolist()
