"""A cheap deterministic embedder for the benchmark's large-N pipeline figures.

Hashed bag of words, 384 dimensions (the real model's), L2-normalised: it costs next to nothing, so what is
timed with it is the pipeline around the model (parsing, chunking, Chroma writes, manifest, snapshot).
It is never the product's embedder; the benchmark says wherever it is used.
"""

from __future__ import annotations

import hashlib
from functools import cache

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

    class HashEmbedding(BaseEmbedding):
        """llama-index interface over ``hash_vector`` (so stock LlamaIndex can use it too)."""

        @classmethod
        def class_name(cls) -> str:
            return "HashEmbedding"

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


def hash_embedding(batch_size: int = 32):
    return _hash_embedding()(model_name="hash-384", embed_batch_size=batch_size)
