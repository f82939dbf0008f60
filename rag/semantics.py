"""Embedding-based evidence for answer selection: sentence similarity and soft term coverage.

Soft coverage lets a sentence cover a question word through a near-synonym
("swap" ~ "exchanging", "toppled" ~ "overthrew"), which exact or stemmed matching
misses. Vectors of sentences and words are cached for the life of one index snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

Embed = Callable[[list[str]], list[list[float]]]


class Semantics:
    def __init__(self, embed_texts: Embed, embed_query: Callable[[str], list[float]]) -> None:
        self._embed_texts = embed_texts
        self._embed_query = embed_query
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _matrix(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            fresh = dict(zip(missing, np.asarray(self._embed_texts(missing), dtype=np.float32)))
            with self._lock:
                self._vectors.update(fresh)
        with self._lock:
            return np.stack([self._vectors[t] for t in texts])

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
        q = self._matrix(qw)
        out = []
        for sent in sentences:
            if not sent:
                out.append(0.0)
                continue
            best = (q @ self._matrix(sent).T).max(axis=1)
            out.append(float(best @ weights / weights.sum()))
        return out
