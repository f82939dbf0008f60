"""Embedding-based evidence for answer selection: sentence similarity and soft term coverage.

Soft coverage lets a sentence cover a question word through a near-synonym
("swap" ~ "exchanging", "toppled" ~ "overthrew"), which exact or stemmed matching
misses. Vectors of sentences and words are kept in a bounded least-recently-used cache.
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

    def _matrix(self, texts: list[str]) -> np.ndarray:
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
        return (self._matrix(sentences) @ q).tolist()

    def soft_coverage(self, words: dict[str, float], sentences: list[list[str]]) -> list[float]:
        """For each sentence (as content words): the weighted mean, over the question's words,
        of the best cosine between that word and any word of the sentence."""
        if not words:
            return [0.0] * len(sentences)
        qw = list(words)
        weights = np.array([words[w] for w in qw], dtype=np.float32)
        vocabulary = list(dict.fromkeys(qw + [w for sent in sentences for w in sent]))
        index = {w: i for i, w in enumerate(vocabulary)}
        vectors = self._matrix(vocabulary)  # one model call for every word (the question's come first)
        sims = vectors[:len(qw)] @ vectors.T
        out = []
        for sent in sentences:
            if not sent:
                out.append(0.0)
                continue
            best = sims[:, [index[w] for w in sent]].max(axis=1)
            out.append(float(best @ weights / weights.sum()))
        return out
