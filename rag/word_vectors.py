"""The vectors of the corpus's words, held in memory for soft term coverage (rag.semantics).

Ingest stores one vector per content word in the index (``Store.word_vectors``); reading a question's
candidate words back from Chroma cost about 4.5 ms an answer at 3,000 articles, most of it Chroma's fixed
cost per read. The vocabulary grows far slower than the corpus (8,500 words for 168 NewsQA articles), so the
serving process holds them all: float16, 768 bytes a word (about 60 MB at 80,000 words). Rows are only ever
added: a word's vector depends on the model alone, which the saved copy (rag.lexical_cache) is keyed by.
"""

from __future__ import annotations

import numpy as np


class WordVectors:
    """Word -> vector, grown a batch at a time; readers on other threads see one consistent table."""

    def __init__(self) -> None:
        self._table: tuple[dict[str, int], np.ndarray] = ({}, np.zeros((0, 0), dtype=np.float16))

    def __len__(self) -> int:
        return len(self._table[0])

    def missing(self, words: set[str]) -> list[str]:
        """The words among ``words`` not held, sorted."""
        rows = self._table[0]
        return sorted(w for w in words if w not in rows)

    def add(self, vectors: dict[str, np.ndarray]) -> None:
        """Hold ``vectors`` too; the table is replaced whole, so that a reader never sees half of it."""
        rows, matrix = self._table
        new = {w: v for w, v in vectors.items() if w not in rows}
        if not new:
            return
        block = np.asarray(list(new.values()), dtype=np.float16)
        rows = {**rows, **{w: len(rows) + i for i, w in enumerate(new)}}
        self._table = rows, (np.concatenate([matrix, block]) if len(matrix) else block)

    def get(self, words: list[str]) -> dict[str, np.ndarray]:
        """The held vectors of ``words`` (float32); a word not held is left out."""
        rows, matrix = self._table
        found = [w for w in dict.fromkeys(words) if w in rows]
        return dict(zip(found, matrix[[rows[w] for w in found]].astype(np.float32))) if found else {}
