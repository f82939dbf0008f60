"""The Chroma collections behind the index, written through llama-index's ChromaVectorStore.

Five collections, all in the one store every process shares (embedded under the data dir, or a Chroma server):

- ``<name>.state``: the record ``state`` (which passage collection is live, the generation, the expected
  totals) and, in server mode, the ``writer`` lease that serialises writers across processes and machines;
- the live passage collection (``<name>`` at first, ``<name>.r<time>`` after a rebuild): one record per
  passage, carrying only ``doc_id``/``start``/``end`` besides what llama-index writes;
- ``<live>.docs``: the manifest, one record per article (metadata, file and content hashes, passage count;
  one JSON field, ``_manifest_meta``)
  with the article's text as indexed, which citation offsets index whatever happens to the file later.
  A manifest record is written only after its passages, so an interrupted write is redone by the next ingest;
- ``<live>.passage-sentences``: for each passage, a vector for each of its sentences, and
  ``<live>.word-vectors``: a vector for each word of the articles that the model's dictionary lacks (the word
  embedded alone; kept when its articles go, as it depends only on the model; the dictionary's words every
  process holds from a file beside the model, rag.word_vectors). Written at ingest, so that answering embeds no
  article text.
  These vectors are only ever read back by id, never searched, so they are kept packed in the records'
  metadata (``_pack``), not in a vector index: Chroma loads a collection's whole vector index into memory on
  first use (about 150 MB of sentence vectors at 3,000 articles), reads vectors out of it by id at about 30 us
  each, and writes a 384-dimensional vector about four times slower than a packed one. (Not as documents either:
  Chroma indexes every document for full-text search, ten times slower still.)

Nothing reads a whole collection in one call: Chroma 1.5 fails past ~32k records ("too many SQL variables").
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.article import Article
from index.chunking import Passage
from index.embedding import Sentence, Span, Vector

if TYPE_CHECKING:
    import numpy as np

PAGE = 5000  # records per collection.get: well under Chroma's SQL-variable limit
DOC_FIELDS = ("title", "outlet", "date", "url", "date_source", "source")
_DUMMY = [1.0]  # manifest, state and packed-vector records are looked up by id, never by vector
# the collections beside a passage collection, and those that indexes written before packed vectors had
_SUFFIXES = (".docs", ".passage-sentences", ".word-vectors", ".sentences", ".words")
_HOST = socket.gethostname()
STAMP = "generation"  # embedded mode: a file in the data folder that mirrors the shared generation (see generation)
_HELD: set[str] = set()  # lease tokens this process holds now


class StoreError(RuntimeError):
    """The index cannot be used: ``kind`` is ``unavailable`` (server down) or ``damaged``."""

    def __init__(self, message: str, kind: str = "unavailable") -> None:
        super().__init__(message)
        self.kind = kind


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
    file_hash: str = ""

    @property
    def complete(self) -> bool:
        return self.stored == self.n_passages


@dataclass(frozen=True)
class Written:
    """One article ready to store: its passages with their vectors, and each passage's sentence vectors."""

    article: Article
    file_hash: str
    passages: list[Passage]
    embeddings: list[list[float]]
    sentences: list[list[tuple[Span, Vector]]]


def _clean(meta: dict) -> dict[str, str | None]:
    """Article metadata as shown to users: None for unknown date/url, fallbacks for title/outlet."""
    out = {"doc_id": meta["doc_id"], **{k: (meta.get(k) or None) for k in DOC_FIELDS}}
    return {**out, "title": out["title"] or meta["doc_id"], "outlet": out["outlet"] or "unknown"}


def _manifest_meta(fields: dict) -> dict[str, str]:
    """A manifest record's metadata: the content hash on its own (``owner_of`` searches it) and the rest
    as one JSON string, which Chroma reads back two to three times faster than ten separate fields."""
    return {"doc_hash": fields["doc_hash"], "state": json.dumps(fields)}


def _state_of(doc_id: str, m: dict) -> DocState:
    if "state" in m:  # the compact form (``_manifest_meta``); records written before it hold each field apart
        m = {**json.loads(m["state"]), **m}
    n = int(m.get("n_passages", 0))
    return DocState(doc_id, m.get("path", ""), m.get("doc_hash", ""), n, n, _clean({**m, "doc_id": doc_id}),
                    m.get("file_hash", ""))


def _pack(vectors: list[Vector]) -> str:
    """Vectors as a metadata string: their float32 bytes, base64."""
    import numpy as np

    return base64.b64encode(np.asarray(vectors, dtype=np.float32).tobytes()).decode("ascii")


def _unpack(text: str, rows: int) -> "np.ndarray":
    import numpy as np

    return np.frombuffer(base64.b64decode(text), dtype=np.float32).reshape(rows, -1)


def split_passage_id(passage_id: str) -> tuple[str, int, int]:
    """``doc_id:start:end:digest`` (see ``Passage.passage_id``) -> ``(doc_id, start, end)``."""
    doc_id, start, end, _ = passage_id.rsplit(":", 3)
    return doc_id, int(start), int(end)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or during, root cause first."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen[::-1]


def _damaged(where: str, text: str) -> StoreError:
    return StoreError(f"the index at {where} is damaged ({text}); run `rag doctor`, then "
                      "`rag ingest --rebuild`", "damaged")


def _translate(exc: BaseException, where: str, embedded: bool) -> StoreError | None:
    """Map a client failure onto StoreError; None for anything that is a bug, not the store.

    Chroma may fail again while cleaning up after the real error, so the whole chain is read."""
    import chromadb.errors
    import httpx

    chain = _chain(exc)
    for e in chain:
        if isinstance(e, StoreError):
            return e
        if isinstance(e, chromadb.errors.ChromaError):
            text = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            if (embedded and isinstance(e, chromadb.errors.InternalError)) or any(w in text.lower() for w in ("malformed", "not a database", "finding id",
                                                           "corrupt", "no such table")):
                return _damaged(where, text)
            return StoreError(f"Chroma at {where} failed: {text}")
    for e in chain:
        if isinstance(e, (httpx.TransportError, ConnectionError)) or (
                isinstance(e, ValueError) and "connect" in str(e).lower()):
            if embedded:
                return _damaged(where, str(e)[:200])
            return StoreError(f"Chroma server at {where} is unreachable ({type(e).__name__}); "
                              "answers resume when it is back")
    return None


@contextmanager
def guard(where: str, embedded: bool = False) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is a store failure
        err = _translate(exc, where, embedded)
        if err is None or err is exc:
            raise
        raise err from exc


class _WriterLock:
    """Serialise writers: a file lock beside an embedded store, a lease record on a Chroma server.

    Re-entrant within a thread. The lease names its holder (host, pid) and expires unless renewed, so a
    killed writer on this host is taken over at once and one elsewhere after ``lease_s``.
    """

    def __init__(self, store: "Store", lease_s: float) -> None:
        self.store, self.lease_s = store, lease_s
        self._local = threading.RLock()
        self._depth = 0

    @property
    def held(self) -> bool:
        """Whether a thread of this process holds it."""
        return self._depth > 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._local:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with (self._file() if self.store.mode == "embedded" else self._lease()):
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0

    @contextmanager
    def _file(self) -> Iterator[None]:
        with open(self.store.data_dir / "write.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def busy(self) -> str | None:
        """Who is writing now (another process), or None."""
        if self.store.mode == "embedded":
            with open(self.store.data_dir / "write.lock", "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return "a writer on this machine"
                fcntl.flock(fh, fcntl.LOCK_UN)
                return None
        holder = self._holder()
        return f"{holder['host']} pid {holder['pid']}" if holder and not self._stale(holder) else None

    def _holder(self) -> dict | None:
        got = self.store.state_collection.get(ids=["writer"], include=["metadatas"])
        return got["metadatas"][0] if got["ids"] else None

    def _stale(self, holder: dict) -> bool:
        if float(holder.get("expires", 0)) < time.time():
            return True
        if holder.get("host") == _HOST and int(holder.get("pid", 0)) == os.getpid():
            return holder.get("owner") not in _HELD  # left by this process when the server went down
        if holder.get("host") == _HOST:
            try:
                os.kill(int(holder.get("pid", 0)), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    @contextmanager
    def _lease(self) -> Iterator[None]:
        col, token = self.store.state_collection, uuid.uuid4().hex
        meta = {"owner": token, "host": _HOST, "pid": os.getpid()}
        waited_for = None
        while True:
            with guard(self.store.where, self.store.mode == "embedded"):
                col.add(ids=["writer"], embeddings=[_DUMMY], metadatas=[{**meta, "expires": time.time() +
                                                                        self.lease_s}])  # no-op if held
                holder = self._holder()
            if holder and holder.get("owner") == token:
                break
            if holder and self._stale(holder):
                with guard(self.store.where, self.store.mode == "embedded"):
                    col.delete(ids=["writer"], where={"owner": holder["owner"]})  # only that stale lease
                continue
            waited_for = waited_for or time.monotonic()
            time.sleep(0.05 + random.random() * 0.2)
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.lease_s / 4):
                try:
                    if (self._holder() or {}).get("owner") == token:
                        col.update(ids=["writer"], metadatas=[{**meta, "expires": time.time() + self.lease_s}])
                except Exception:  # noqa: BLE001 - the server may be down; the writer itself will fail
                    pass

        _HELD.add(token)
        renewer = threading.Thread(target=renew, daemon=True, name="rag-lease")
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            _HELD.discard(token)
            try:
                col.delete(ids=["writer"], where={"owner": token})
            except Exception:  # noqa: BLE001 - the lease expires by itself
                pass


class Store:
    """The index in one Chroma store; embedded under ``data_dir`` or on a Chroma server."""

    def __init__(self, data_dir: Path, collection: str = "articles", chroma_url: str | None = None,
                 lease_s: float = 30.0) -> None:
        import chromadb

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.name = collection
        self.mode = "server" if chroma_url else "embedded"
        self.where = chroma_url or str(self.data_dir / "chroma")
        with self._guard():
            if chroma_url:
                u = urlparse(chroma_url)
                self.client = chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000,
                                                  ssl=u.scheme == "https")
            else:
                self.client = chromadb.PersistentClient(path=self.where)
            self.state_collection = self.client.get_or_create_collection(f"{collection}.state")
            self._lock = _WriterLock(self, lease_s)
            self._manifest_read: tuple[tuple[str, int], dict[str, DocState]] | None = None  # see doc_states
            self._stamp_seen: str | None = None  # the stamp, when it matched the generation read (see generation)
            self._writing = False  # this process said in the shared state that it is writing (see _begin_write)
            self._follow = True  # a rebuild in progress stays on its own collections
            self._bind(self._state().get("active") or collection)

    def _guard(self):
        return guard(self.where, self.mode == "embedded")

    def _bind(self, live: str) -> None:
        self.live = live
        self.collection = self.client.get_or_create_collection(live, metadata={"hnsw:space": "cosine"})
        self.manifest = self.client.get_or_create_collection(f"{live}.docs")
        self.sentences = self.client.get_or_create_collection(f"{live}.passage-sentences")
        self.words = self.client.get_or_create_collection(f"{live}.word-vectors")
        self.vector_store = ChromaVectorStore(chroma_collection=self.collection)

    # --- coordination ----------------------------------------------------------

    def _state(self) -> dict:
        got = self.state_collection.get(ids=["state"], include=["metadatas"])
        return dict(got["metadatas"][0]) if got["ids"] else {}

    def _sync(self) -> dict:
        """Read the shared state; follow a rebuild another process swapped in."""
        state = self._state()
        if self._follow and (state.get("active") or self.name) != self.live:
            self._bind(state["active"])
        return state

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serialise writers across threads, processes and (server mode) machines."""
        with self._lock.hold(), self._guard():
            self._sync()
            self._writing = False  # another process may have finished a write since this one last held it
            yield

    def writer_busy(self) -> str | None:
        with self._guard():
            return self._lock.busy()

    def generation(self) -> int:
        """Changes whenever any process wrote to the index: one small read of the shared state.

        Embedded, writers also write the generation to a stamp file beside the store (``mark_changed``). A
        generation read while the stamp already said it stands until the stamp changes: one small file read
        (~0.1 ms) instead of a Chroma read (~1 ms) a question. A stamp that does not match (an older writer,
        a write under way or killed midway) is never trusted."""
        stamp = self._read_stamp()
        if stamp is not None and self._stamp_seen == stamp:
            return int(stamp)
        with self._guard():
            generation = int(self._sync().get("generation", 0))
        self._stamp_seen = stamp if stamp == str(generation) else None
        return generation

    def _stamp(self) -> Path | None:
        return self.data_dir / STAMP if self.mode == "embedded" else None

    def _read_stamp(self) -> str | None:
        try:
            return stamp.read_text() if (stamp := self._stamp()) else None
        except OSError:
            return None

    def _write_stamp(self, text: str) -> None:
        """Replace the stamp in one step; every writer on this store shares the data folder."""
        if (stamp := self._stamp()) is None:
            return
        tmp = stamp.with_name(f".{STAMP}.{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(text)
        tmp.replace(stamp)

    def mark_changed(self) -> None:
        """Bump the generation and record the totals the index should now hold (under ``write_lock``).

        A rebuild's collections stay out of the shared state until ``activate``."""
        if not self._follow:
            return
        # The stamp first says a change is under way, so that a writer killed before it writes the new
        # generation leaves a stamp no reader has seen: readers go on reading the shared state.
        self._write_stamp(f"changing {uuid.uuid4().hex}")
        with self._guard():
            state = self._state()
            generation = max(time.time_ns(), int(state.get("generation", 0)) + 1)
            self.state_collection.upsert(ids=["state"], embeddings=[_DUMMY], metadatas=[{
                **state, "active": self.live, "generation": generation, "writing": 0,
                "articles": self.manifest.count(), "passages": self.collection.count()}])
        self._writing = False
        self._write_stamp(str(generation))

    def _begin_write(self) -> None:
        """Say in the shared state, before a write's first record changes, that a write is under way. Only
        ``mark_changed`` clears it, so a write that dies (killed, a full disk) leaves the index marked unfinished
        and the next ingest checks every record; an unchanged corpus is known by the manifest alone."""
        if self._follow and not self._writing:
            with self._guard():
                self.state_collection.upsert(ids=["state"], embeddings=[_DUMMY],
                                             metadatas=[{**self._state(), "writing": 1}])
            self._writing = True

    # --- reading ---------------------------------------------------------------

    def last_write(self) -> dict[str, int]:
        """What the shared state says: the totals the last complete write left, and whether a write began
        since (under way, or died before it finished). Touches no record collection: the first read of the
        passages in a process loads them (~0.5 s at 3,000 articles)."""
        with self._guard():
            state = self._sync()
        return {"expected_articles": int(state.get("articles", -1)),
                "expected_passages": int(state.get("passages", -1)), "writing": int(state.get("writing", 0))}

    def counts(self) -> dict[str, int]:
        """Constant-time figures: records now stored, and what the shared state says (``last_write``)."""
        last = self.last_write()
        with self._guard():
            return {"articles": self.manifest.count(), "passages": self.collection.count(), **last}

    def _pages(self, collection, include: list[str], page: int = PAGE) -> Iterator[dict]:
        offset = 0
        while True:
            with self._guard():
                got = collection.get(limit=page, offset=offset, include=include)
            if not got["ids"]:
                return
            yield got
            offset += len(got["ids"])

    def doc_states(self, doc_id: str | None = None) -> dict[str, DocState]:
        """Per-document state from the manifest (all documents, or just ``doc_id``)."""
        if doc_id is not None:
            with self._guard():
                got = self.manifest.get(ids=[doc_id], include=["metadatas"])
            return {d: _state_of(d, m) for d, m in zip(got["ids"], got["metadatas"])}
        if self._lock.held:  # a writer reads what it has written so far
            return self._read_manifest()
        # Writers bump the generation when they finish, so the last full read stands until it changes: a process
        # starting up reads the manifest once, not once to check the corpus and again to load the index.
        key = (self.live, self.generation())
        if self._manifest_read is None or self._manifest_read[0] != key:
            self._manifest_read = (key, self._read_manifest())
        return dict(self._manifest_read[1])

    def _read_manifest(self) -> dict[str, DocState]:
        return {d: _state_of(d, m) for got in self._pages(self.manifest, ["metadatas"])
                for d, m in zip(got["ids"], got["metadatas"])}

    def text_of(self, doc_id: str) -> str | None:
        """The article's text as indexed (what citation offsets index); None if not indexed, or
        indexed before manifest records kept their text."""
        return self.texts_of([doc_id]).get(doc_id)

    def texts_of(self, doc_ids: list[str]) -> dict[str, str]:
        """``text_of`` for several articles, a page of them a read (those without a stored text left out)."""
        return {d: text for d, text in self._records(self.manifest, doc_ids, "documents").items() if text is not None}

    def owner_of(self, content_hash: str) -> str | None:
        """The document already holding this content, if any."""
        with self._guard():
            got = self.manifest.get(where={"doc_hash": content_hash}, limit=1, include=[])
        return got["ids"][0] if got["ids"] else None

    def iter_passages(self, page: int = PAGE) -> Iterator[StoredPassage]:
        """Every passage, a page at a time, in storage order (text only: the rest is in the id and manifest)."""
        metas = {d: s.meta for d, s in self.doc_states().items()}
        for got in self._pages(self.collection, ["documents"], page):
            for pid, text in zip(got["ids"], got["documents"]):
                doc_id, start, end = split_passage_id(pid)
                if doc_id in metas:  # records of an unfinished write have no manifest entry yet
                    yield StoredPassage(pid, doc_id, start, end, text or "", metas[doc_id])

    def passages_of(self, doc_ids: list[str], metas: dict[str, dict], batch: int = 200
                    ) -> dict[str, list[StoredPassage]]:
        """The passages of some articles, by article, ``batch`` articles a read (``metas``: their metadata)."""
        out: dict[str, list[StoredPassage]] = {d: [] for d in doc_ids}
        for i in range(0, len(doc_ids), batch):
            chunk = doc_ids[i:i + batch]
            offset = 0
            while True:
                with self._guard():
                    got = self.collection.get(where={"doc_id": {"$in": chunk}}, limit=PAGE, offset=offset,
                                              include=["documents"])
                if not got["ids"]:
                    break
                offset += len(got["ids"])
                for pid, text in zip(got["ids"], got["documents"]):
                    doc_id, start, end = split_passage_id(pid)
                    out[doc_id].append(StoredPassage(pid, doc_id, start, end, text or "", metas[doc_id]))
        return out

    def passages(self) -> list[StoredPassage]:
        """All passages, by document and offset."""
        return sorted(self.iter_passages(), key=lambda p: (p.doc_id, p.start))

    def stored_counts(self) -> Counter[str]:
        """Passage records per document id, read a page of ids at a time."""
        counts: Counter[str] = Counter()
        for got in self._pages(self.collection, []):
            counts.update(split_passage_id(pid)[0] for pid in got["ids"])
        return counts

    def query(self, embeddings: list[Vector], k: int, where: dict | None = None) -> list[list[tuple[str, float]]]:
        """Dense search in one call, a ranking per query vector: ``(passage_id, cosine similarity)`` best
        first; ``where`` is a Chroma metadata filter applied inside the search (``{"doc_id": {"$in": [...]}}``)."""
        if not embeddings:
            return []
        # Ids and distances only: the passages' text is held in memory (rag.retrieve.LexicalIndex), and
        # reading it back with each record's node JSON (what ChromaVectorStore.query does) took most of the
        # search's time. No count first either: it costs O(N) in Chroma's SQLite, and an empty search is fine.
        with self._guard():
            res = self.collection.query(query_embeddings=embeddings, n_results=k, where=where, include=["distances"])
        return [[(pid, 1.0 - d) for pid, d in zip(ids, distances)]  # cosine distance
                for ids, distances in zip(res["ids"], res["distances"])]

    def sentence_vectors(self, sentences: list[Sentence]) -> dict[Sentence, "np.ndarray"]:
        """Stored vectors of sentences given as ``(passage_id, offsets in the passage)``; one not stored (an
        index written before sentence vectors were, or a sentence the splitter now cuts differently) is left out."""
        found: dict[Sentence, "np.ndarray"] = {}
        for pid, meta in self._records(self.sentences, list(dict.fromkeys(pid for pid, _ in sentences))).items():
            if "vectors" not in meta:  # written in another layout, until the next ingest re-indexes it
                continue
            spans = [tuple(map(int, span.split("-"))) for span in meta["spans"].split()]
            # each row copied: a view would keep the whole passage's vectors alive in the answerer's cache
            found.update(((pid, span), v.copy()) for span, v in zip(spans, _unpack(meta["vectors"], len(spans))))
        return {sentence: found[sentence] for sentence in sentences if sentence in found}

    def word_vectors(self, words: list[str]) -> dict[str, "np.ndarray"]:
        """Stored vectors of words (as ``index.text.content_words`` gives them); one not stored is left out."""
        return {w: _unpack(meta["vector"], 1)[0]
                for w, meta in self._records(self.words, list(dict.fromkeys(words))).items() if "vector" in meta}

    def missing_words(self, words: list[str]) -> list[str]:
        """The words among ``words`` that have no stored vector yet."""
        known: set[str] = set()
        with self._guard():
            for at in range(0, len(words), PAGE):
                known.update(self.words.get(ids=words[at:at + PAGE], include=[])["ids"])
        return [w for w in words if w not in known]

    def _records(self, collection, ids: list[str], field: str = "metadatas") -> dict[str, Any]:
        """One field (the metadata: packed vectors, for answering; or the document) of the records stored under
        ``ids``, a page of ids a read."""
        found: dict[str, Any] = {}
        for at in range(0, len(ids), PAGE):
            with self._guard():
                got = collection.get(ids=ids[at:at + PAGE], include=[field])
            found.update(zip(got["ids"], got[field]))
        return found

    # --- writing (under write_lock) --------------------------------------------

    def write(self, batch: list[Written], words: dict[str, Vector] | None = None) -> None:
        """Store several articles' passages, sentence vectors and new ``words`` (their vectors) in a few
        round trips; each manifest record goes in last."""
        self._manifest_read = None
        new_words = list((words or {}).items())
        for at in range(0, len(new_words), PAGE):
            chunk = new_words[at:at + PAGE]
            with self._guard():
                self.words.upsert(ids=[w for w, _ in chunk], embeddings=[_DUMMY] * len(chunk),
                                  metadatas=[{"vector": _pack([v])} for _, v in chunk])
        if not batch:
            return
        self._begin_write()
        doc_ids = [w.article.doc_id for w in batch]
        nodes = [TextNode(id_=p.passage_id, text=p.text, embedding=emb,
                          metadata={"doc_id": w.article.doc_id, "start": p.start, "end": p.end},
                          relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=w.article.doc_id)})
                 for w in batch for p, emb in zip(w.passages, w.embeddings)]
        with self._guard():
            self.manifest.delete(ids=doc_ids)  # from here until the end, these documents read as unfinished
            self.collection.delete(where={"doc_id": {"$in": doc_ids}})
            self.sentences.delete(where={"doc_id": {"$in": doc_ids}})
            if nodes:
                self.vector_store.add(nodes)
            records = [(p.passage_id, {"doc_id": w.article.doc_id, "spans": " ".join(f"{a}-{b}" for (a, b), _ in sents),
                                       "vectors": _pack([vector for _, vector in sents])})
                       for w in batch for p, sents in zip(w.passages, w.sentences) if sents]
            for at in range(0, len(records), PAGE):
                ids, metas = zip(*records[at:at + PAGE])
                self.sentences.add(ids=list(ids), embeddings=[_DUMMY] * len(ids), metadatas=list(metas))
            self.manifest.upsert(ids=doc_ids, embeddings=[_DUMMY] * len(batch),
                                 documents=[w.article.raw_text for w in batch], metadatas=[_manifest_meta(
                {**{k: getattr(w.article, k) or "" for k in DOC_FIELDS}, "path": w.article.path,
                 "doc_hash": w.article.content_hash, "file_hash": w.file_hash, "n_passages": len(w.passages)})
                for w in batch])

    def delete(self, doc_ids: str | list[str]) -> None:
        self._manifest_read = None
        doc_ids = [doc_ids] if isinstance(doc_ids, str) else doc_ids
        if doc_ids:
            self._begin_write()
            with self._guard():
                self.manifest.delete(ids=doc_ids)
                self.collection.delete(where={"doc_id": {"$in": doc_ids}})
                self.sentences.delete(where={"doc_id": {"$in": doc_ids}})

    # --- checking and rebuilding -------------------------------------------------

    def check(self, full: bool = False, sample: int = 32) -> list[str]:
        """Problems found, each a sentence; empty when the index is consistent.

        Compares the manifest, Chroma's records and what a vector query reaches: every record when
        ``full`` (``rag doctor``), else ``sample`` records from random places (start-up).
        """
        c = self.counts()
        problems = self.check_counts(c)
        if full:
            expected = sum(s.n_passages for s in self.doc_states().values())
            if expected != c["passages"]:
                problems.append(f"the manifest lists {expected} passages, Chroma's metadata holds {c['passages']}")
            try:
                reached = self._reachable(c["passages"])
            except StoreError as exc:
                if exc.kind != "damaged":
                    raise
                problems.append(f"stored vectors cannot be read back ({exc.__cause__}): the vector index is "
                                "damaged or missing")
            else:
                if reached != c["passages"]:
                    problems.append(f"a vector query reaches {reached} of {c['passages']} passages "
                                    "(the vector index is damaged or missing)")
        elif c["passages"]:
            problems += self._probe(c["passages"], sample)
        return problems

    def check_counts(self, c: dict[str, int]) -> list[str]:
        """Constant time: do the stored records match what the last complete write left?"""
        if c["expected_passages"] < 0 or (c["articles"], c["passages"]) == (c["expected_articles"],
                                                                            c["expected_passages"]):
            return []
        if self.writer_busy():
            return []  # a write is under way
        cause = ("an interrupted write: `rag ingest` repairs it" if c.get("writing") else
                 "records changed outside the product: `rag ingest --rebuild` restores them")
        return [f"the last complete write left {c['expected_articles']} articles / {c['expected_passages']} "
                f"passages but the store holds {c['articles']} / {c['passages']} ({cause})"]

    def _reachable(self, n: int) -> int:
        if n == 0:
            return 0
        with self._guard():
            probe = self.collection.get(limit=1, include=["embeddings"])
            got = self.collection.query(query_embeddings=[list(probe["embeddings"][0])], n_results=n, include=[])
        return len(got["ids"][0])

    def _probe(self, n: int, sample: int, windows: int = 8) -> list[str]:
        """Each sampled record's own vector must find it (a lost vector segment fails here). The sample is
        ``windows`` runs of records from random places: records not yet moved into the vector segment are
        found whatever its state, so one run could fall among them and see nothing."""
        size = max(1, sample // windows)
        offsets = random.sample(range(max(1, n - size + 1)), min(windows, max(1, n - size + 1)))
        try:
            with self._guard():
                vectors = [list(e) for o in offsets
                           for e in self.collection.get(limit=size, offset=o, include=["embeddings"])["embeddings"]]
                res = self.collection.query(query_embeddings=vectors, n_results=1, include=["distances"])
        except StoreError as exc:
            if exc.kind != "damaged":
                raise
            return [f"stored vectors cannot be read back ({exc.__cause__}): the vector index is damaged or "
                    "missing"]
        lost = sum(1 for d in res["distances"] if not d or d[0] > 1e-3)
        return [f"{lost} of {len(vectors)} sampled passages are not found by their own vector "
                "(the vector index is damaged)"] if lost else []

    def fresh(self) -> "Store":
        """An empty passage collection and manifest beside the live ones, for a rebuild; shares the lock."""
        other = object.__new__(Store)
        other.__dict__.update(self.__dict__)
        other._follow = False
        with self._guard():
            other._bind(f"{self.name}.r{time.time_ns()}")
        return other

    def activate(self, rebuilt: "Store") -> None:
        """Swap a complete rebuild in (under ``write_lock``) and drop the collections it replaces."""
        self._bind(rebuilt.live)
        self.mark_changed()
        with self._guard():
            names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        for name in names:  # the replaced collections, and any left by an interrupted rebuild
            base = next((name.removesuffix(s) for s in _SUFFIXES if name.endswith(s)), name)
            if base != self.live and (base == self.name or base.startswith(f"{self.name}.r")):
                try:
                    self.client.delete_collection(name)
                except Exception:  # noqa: BLE001 - a damaged collection may not delete cleanly; it is unused
                    pass


def quarantine(data_dir: Path) -> Path | None:
    """Move a damaged embedded store aside so a rebuild starts from nothing; returns where it went."""
    from chromadb.api.shared_system_client import SharedSystemClient

    src = Path(data_dir) / "chroma"
    if not src.exists():
        return None
    SharedSystemClient.clear_system_cache()
    dest = src.with_name(f"chroma.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    src.rename(dest)
    return dest
