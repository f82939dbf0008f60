"""Embedding-based evidence for answer selection: sentence similarity and soft term coverage.

Soft coverage lets a sentence cover a question word through a near-synonym
("swap" ~ "exchanging", "toppled" ~ "overthrew"), which exact or stemmed matching
misses. Vectors of sentences and words are embedded at question time and kept in a bounded
least-recently-used cache (CACHE_SIZE vectors, about 25 MB), so a serving process does not grow with
the questions it is asked.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

Embed = Callable[[list[str]], list[list[float]]]
CACHE_SIZE = 16_000  # 384 float32 each plus the key: ~25 MB; a question needs a few hundred


class Semantics:
    def __init__(self, embed_texts: Embed, embed_query: Callable[[str], list[float]],
                 cache_size: int = CACHE_SIZE) -> None:
        self._embed_texts = embed_texts
        self._embed_query = embed_query
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _matrix(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            found = {t: self._vectors[t] for t in dict.fromkeys(texts) if t in self._vectors}
            for t in found:
                self._vectors.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = dict(zip(missing, np.asarray(self._embed_texts(missing), dtype=np.float32)))
            found.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self._cache_size:
                    self._vectors.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def similarity(self, question: str, sentences: list[str]) -> list[float]:
        """Cosine of each sentence to the question (vectors are normalised)."""
        if not sentences:
            return []
        q = np.asarray(self._embed_query(question), dtype=np.float32)
        return (self._matrix(sentences) @ q).tolist()

    def soft_coverage(self, words: dict[str, float], sentences: list[list[str]]) -> list[float]:
        """For each sentence (as content words): the weighted mean, over the question's words,
        of the best cosine between that word and any word of the sentence."""
        if not words:
            return [0.0] * len(sentences)
        qw = list(words)
        weights = np.array([words[w] for w in qw], dtype=np.float32)
        vocab = list(dict.fromkeys(w for sent in sentences for w in sent))
        at = {w: i for i, w in enumerate(vocab)}
        both = self._matrix(qw + vocab)  # one model call for the words not yet cached
        sims = both[:len(qw)] @ both[len(qw):].T
        return [float(sims[:, [at[w] for w in sent]].max(axis=1) @ weights / weights.sum()) if sent else 0.0
                for sent in sentences]
