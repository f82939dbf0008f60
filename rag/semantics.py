"""Embedding-based evidence for answer selection: sentence similarity and soft term coverage.

Soft coverage lets a sentence cover a question word through a near-synonym
("swap" ~ "exchanging", "toppled" ~ "overthrew"), which exact or stemmed matching
misses. Sentence vectors are read from the index, where ingest stored them; word vectors are looked up in
memory (rag.word_vectors, the corpus's words read from the index). A sentence or word neither holds (a
question's own word, an index written before they were stored) is embedded at question time. Sentences
read and texts embedded are kept in a bounded least-recently-used cache (CACHE_SIZE vectors, about 13 MB),
so that a serving process does not grow with the questions it is asked.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

from index.embedding import Sentence

Embed = Callable[[list[str]], list[list[float]]]
Stored = Callable[[list], dict]  # keys -> the stored vectors found under them
# 384 float32 each plus the key: ~13 MB; a question needs a few hundred. 16,000 let serving RSS grow 54.6 MB over
# 1,000 distinct questions at 10,000 articles (target: 50).
CACHE_SIZE = 8_000


class Semantics:
    def __init__(self, embed_texts: Embed, embed_query: Callable[[str], list[float]],
                 cache_size: int = CACHE_SIZE, sentences: Stored | None = None, words: Stored | None = None) -> None:
        """``sentences`` reads stored sentence vectors (``Store.sentence_vectors``), cached once read; ``words``
        looks up words held in memory (``WordVectors.get``), which the cache does not copy."""
        self._embed_texts = embed_texts
        self._embed_query = embed_query
        self._stored = {"sentences": sentences, "words": words}
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _cached(self, keys: list[Hashable]) -> dict[Hashable, np.ndarray]:
        with self._lock:
            found = {k: self._vectors[k] for k in dict.fromkeys(keys) if k in self._vectors}
            for k in found:
                self._vectors.move_to_end(k)
        return found

    def _remember(self, vectors: dict[Hashable, np.ndarray]) -> None:
        with self._lock:
            self._vectors.update(vectors)
            while len(self._vectors) > self._cache_size:
                self._vectors.popitem(last=False)

    def similarity(self, question: str, sentences: list[tuple[Sentence, str]]) -> list[float]:
        """Cosine of each sentence, given as ``(where it is, its text)``, to the question (vectors are
        normalised): the stored vector, else the text embedded now."""
        if not sentences:
            return []
        q = np.asarray(self._embed_query(question), dtype=np.float32)
        return (self._stored_or_embedded("sentences", sentences, cache_reads=True) @ q).tolist()

    def _stored_or_embedded(self, kind: str, items: list[tuple[Hashable, str]], cache_reads: bool) -> np.ndarray:
        """The vector of each ``(key, text)``: cached, else stored under its key, else the text embedded
        now; a text embedded, and with ``cache_reads`` a vector read, is cached (they recur from question to
        question), under its key and text, so that a passage re-indexed with other text is never served a
        stale vector."""
        found = self._cached(items)
        rest = list(dict.fromkeys(item for item in items if item not in found))
        read = self._stored[kind]
        stored = read([key for key, _ in rest]) if read and rest else {}
        fresh = {(key, text): np.asarray(stored[key], dtype=np.float32) for key, text in rest if key in stored}
        if cache_reads:
            self._remember(fresh)
        found.update(fresh)
        if missing := [item for item in rest if item not in fresh]:
            embedded = dict(zip(missing, np.asarray(self._embed_texts([text for _, text in missing]), dtype=np.float32)))
            self._remember(embedded)
            found.update(embedded)
        return np.stack([found[item] for item in items])

    def soft_coverage(self, words: dict[str, float], sentences: list[list[str]]) -> list[float]:
        """For each sentence (as content words): the weighted mean, over the question's words,
        of the best cosine between that word and any word of the sentence."""
        if not words:
            return [0.0] * len(sentences)
        qw = list(words)
        weights = np.array([words[w] for w in qw], dtype=np.float32)
        vocab = list(dict.fromkeys(w for sent in sentences for w in sent))
        at = {w: i for i, w in enumerate(vocab)}
        # one model call at most; the words are held in memory, so the cache takes only those embedded now
        both = self._stored_or_embedded("words", [(w, w) for w in qw + vocab], cache_reads=False)
        sims = both[:len(qw)] @ both[len(qw):].T
        return [float(sims[:, [at[w] for w in sent]].max(axis=1) @ weights / weights.sum()) if sent else 0.0
                for sent in sentences]
