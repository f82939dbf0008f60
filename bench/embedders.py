"""A cheap deterministic embedder for the benchmark's large-N pipeline figures.

Hashed bag of words, 384 dimensions (the real model's), L2-normalised: it costs next to nothing, so what is
timed with it is the pipeline around the model (parsing, chunking, Chroma writes, manifest, snapshot).
Given the real model's tokenizer, it has the real model's dictionary too, so the product skips at ingest the
words it would skip with the real model (rag.word_vectors). It is never the product's embedder; the benchmark
says wherever it is used.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384


def hash_vector(text: str) -> list[float]:
    v = np.zeros(DIM, dtype=np.float32)
    for word in text.lower().split():
        h = int.from_bytes(hashlib.blake2b(word.strip(".,;:?!\"'()").encode(), digest_size=4).digest(), "big")
        v[h % DIM] += 1.0 if h & 1 else -1.0
    norm = float(np.linalg.norm(v)) or 1.0
    return (v / norm).tolist()


@cache
def _hash_embedding() -> type:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class HashEmbedding(BaseEmbedding):
        """llama-index interface over ``hash_vector`` (so stock LlamaIndex can use it too)."""

        _tokenizer: Any = PrivateAttr(default=None)

        @classmethod
        def class_name(cls) -> str:
            return "HashEmbedding"

        @property
        def tokenizer(self) -> Any:
            return self._tokenizer

        def encode(self, texts: list[str]) -> list[list[float]]:
            return [hash_vector(t) for t in texts]

        def _get_query_embedding(self, query: str) -> list[float]:
            return hash_vector(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return hash_vector(text)

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self.encode(texts)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return hash_vector(query)

    return HashEmbedding


def hash_embedding(batch_size: int = 32, model: str | None = None):
    """The cheap embedder; with ``model`` (a model name or folder), that model's tokenizer (and dictionary)."""
    embedder = _hash_embedding()(model_name="hash-384", embed_batch_size=batch_size)
    if model is not None:
        from tokenizers import Tokenizer

        from index.embedding import resolve_model

        path = Path(resolve_model(model)) / "tokenizer.json"
        embedder._tokenizer = Tokenizer.from_file(str(path)) if path.is_file() else None
    return embedder
