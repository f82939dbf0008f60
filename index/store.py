"""The Chroma collection behind the index, reached through llama-index's ChromaVectorStore."""

from __future__ import annotations

import fcntl
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.article import Article
from index.chunking import Passage

# Metadata keys written on every record (Chroma metadata cannot hold None: "" stands for it).
DOC_KEYS = ("doc_id", "title", "outlet", "date", "url", "path", "doc_hash", "n_passages")


@dataclass(frozen=True)
class StoredPassage:
    passage_id: str
    doc_id: str
    start: int
    end: int
    text: str
    meta: dict[str, str | None]


@dataclass(frozen=True)
class DocState:
    doc_id: str
    path: str
    doc_hash: str
    n_passages: int
    stored: int
    meta: dict[str, str | None]

    @property
    def complete(self) -> bool:
        """False after an interrupted write: the next ingest redoes the document."""
        return self.stored == self.n_passages


def _clean(meta: dict) -> dict[str, str | None]:
    """Article metadata as shown to users: None for unknown date/url, fallbacks for title/outlet."""
    out = {k: (meta.get(k) or None) for k in ("doc_id", "title", "outlet", "date", "url")}
    return {**out, "title": out["title"] or meta["doc_id"], "outlet": out["outlet"] or "unknown"}


class Store:
    """One Chroma collection; embedded under ``data_dir`` or on a Chroma server."""

    def __init__(self, data_dir: Path, collection: str = "articles", chroma_url: str | None = None) -> None:
        import chromadb

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if chroma_url:
            u = urlparse(chroma_url)
            self.client = chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000,
                                              ssl=u.scheme == "https")
            self.mode = "server"
        else:
            self.client = chromadb.PersistentClient(path=str(self.data_dir / "chroma"))
            self.mode = "embedded"
        self.collection = self.client.get_or_create_collection(collection, metadata={"hnsw:space": "cosine"})
        self.vector_store = ChromaVectorStore(chroma_collection=self.collection)
        self._thread_lock = threading.RLock()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serialise writers across threads and processes (Chroma is not multi-writer safe)."""
        with self._thread_lock, open(self.data_dir / "write.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def generation(self) -> int:
        """Changes whenever any process wrote to the index (see ``mark_changed``)."""
        try:
            return int((self.data_dir / "generation").read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def mark_changed(self) -> None:
        """Bump the generation (called under ``write_lock``; written atomically)."""
        tmp = self.data_dir / "generation.tmp"
        tmp.write_text(str(max(time.time_ns(), self.generation() + 1)))
        tmp.replace(self.data_dir / "generation")

    def passages(self) -> list[StoredPassage]:
        got = self.collection.get(include=["documents", "metadatas"])
        out = [StoredPassage(pid, m["doc_id"], int(m["start"]), int(m["end"]), text or "", _clean(m))
               for pid, text, m in zip(got["ids"], got["documents"], got["metadatas"])]
        out.sort(key=lambda p: (p.doc_id, p.start))
        return out

    def doc_states(self, doc_id: str | None = None) -> dict[str, DocState]:
        """Per-document state from the records (all documents, or just ``doc_id``)."""
        got = self.collection.get(where={"doc_id": doc_id} if doc_id else None, include=["metadatas"])
        counts: dict[str, int] = {}
        first: dict[str, dict] = {}
        for m in got["metadatas"]:
            counts[m["doc_id"]] = counts.get(m["doc_id"], 0) + 1
            first.setdefault(m["doc_id"], m)
        return {d: DocState(d, m.get("path", ""), m.get("doc_hash", ""), int(m.get("n_passages", 0)),
                            counts[d], _clean(m)) for d, m in first.items()}

    def replace(self, article: Article, passages: list[Passage], embeddings: list[list[float]]) -> None:
        """Swap a document's records for new ones (call under ``write_lock``)."""
        self.delete(article.doc_id)
        meta = {**{k: v or "" for k, v in article.meta().items()}, "path": article.path,
                "doc_hash": article.content_hash, "n_passages": len(passages)}
        nodes = [
            TextNode(id_=p.passage_id, text=p.text, embedding=emb,
                     metadata={**meta, "start": p.start, "end": p.end},
                     relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=article.doc_id)})
            for p, emb in zip(passages, embeddings)
        ]
        if nodes:
            self.vector_store.add(nodes)

    def delete(self, doc_id: str) -> None:
        self.vector_store.delete(ref_doc_id=doc_id)

    def query(self, embedding: list[float], k: int) -> list[tuple[str, float]]:
        """Dense search: ``(passage_id, cosine similarity)`` best first."""
        if self.collection.count() == 0:
            return []
        res = self.vector_store.query(VectorStoreQuery(query_embedding=embedding, similarity_top_k=k))
        # ChromaVectorStore reports exp(-distance); with cosine distance that maps back to cosine.
        return [(pid, 1.0 + math.log(max(sim, 1e-12))) for pid, sim in zip(res.ids or [], res.similarities or [])]
