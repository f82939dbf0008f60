"""The product's one entry point: CLI, HTTP API and chat UI are thin shells over it."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from collections import OrderedDict
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from index.article import ARTICLE_SUFFIXES, ArticleError, parse
from index.embedding import Span, Vector, embed_queries
from index.ingest import IngestReport, ingest
from index.store import DocState, StoredPassage, Store, StoreError, quarantine
from index.text import content_words
from rag.answer import answer
from rag.lexical_cache import Held, LexicalCache, due
from rag.models import Answer, Document, DocumentInfo, Filters
from rag.progress import bar_or_lines
from rag.retrieve import Hit, HybridRetriever, Idf, query_forms
from rag.semantics import Semantics
from rag.settings import Settings
from rag.word_vectors import WordVectors, dictionary_file, dictionary_vectors

if TYPE_CHECKING:
    from index.ingest import Progress
    from index.sources.dumps import FieldMap
    from index.sources.intake import Intake
    from llama_index.core.base.embeddings.base import BaseEmbedding


log = logging.getLogger(__name__)


class QuestionError(ValueError):
    """The question cannot be asked as given; the message says why."""


class NotFound(KeyError):
    """No indexed article has that id."""


QUERY_CACHE = 256  # query vectors kept (a question and its keyword form are two)
ANSWER_POOL = 12  # passages whose sentences compete to be the answer; the best top_k are cited
KEEP_EACH = 3  # ... plus dense's and BM25's own best three, wherever fusion ranks them
_SAFE_NAME = re.compile(r"^[\w][\w.-]{0,150}$")
_FOLLOW_UP = re.compile(r"^\s*(?:and|but|also|so|what about|how about)\b|\b(?:it|its|they|them|their|that|this|"
                        r"those|these|he|she|him|her|there)\b", re.I)


@dataclass
class Snapshot:
    """The passages held in memory, as of the store's generation ``generation``.

    An index change updates it article by article (``RagService.snapshot``), never from scratch."""

    generation: int  # the store's generation it was last synced to
    retriever: HybridRetriever
    semantics: Semantics
    held: Held  # what the retriever and semantics read

    @property
    def hashes(self) -> dict[str, str]:
        return self.held.hashes

    @property
    def idf(self) -> Idf:
        return self.retriever.lexical.idf()

    @property
    def passages(self) -> list[StoredPassage]:
        """Every passage held, by article and offset (for tests and tools; O(corpus))."""
        return sorted(self.retriever.by_id.values(), key=lambda p: (p.doc_id, p.start))


def contextualize(question: str, history: list[dict[str, str]] | None) -> str:
    """Fold the previous user question into a follow-up that leans on it."""
    previous = [m["content"] for m in (history or []) if m.get("role") == "user" and m.get("content")]
    if previous and (_FOLLOW_UP.search(question) or len(content_words(question)) < 3):
        return f"{previous[-1]} {question}"
    return question


class RagService:
    """Holds the settings, the embedding model and the store; loads each once, lazily."""

    def __init__(self, settings: Settings, embedder: "BaseEmbedding | None" = None) -> None:
        """``embedder`` lets several services (tests, benchmarks) share one loaded model."""
        self.settings = settings
        self._embedder = embedder
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = threading.Lock()
        self._read_lock = threading.RLock()  # the in-memory index: synced and read under it
        self._model_lock = threading.Lock()
        self._words: set[str] | None = None  # the model's dictionary
        self._queries: OrderedDict[str, Vector] = OrderedDict()  # the last QUERY_CACHE query vectors
        self._queries_lock = threading.Lock()
        self._problems: tuple[int, list[str]] = (0, [])  # (generation, damage found by the last check)
        self._health_lock = threading.Lock()
        self._health: tuple[float, dict] | None = None

    @property
    def embedder(self) -> "BaseEmbedding":
        with self._model_lock:
            if self._embedder is None:
                from index.embedding import backend_for, load_embedder

                s = self.settings
                self._embedder = load_embedder(s.embed_model, s.embed_batch_size, s.device,
                                               backend_for(s.embed_backend, s.device), s.data_dir)
            return self._embedder

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        """Embed texts in batches (loads the model on first use only)."""
        return self.embedder.get_text_embedding_batch(texts)

    def embed_passages(self, texts: list[str], spans: list[list[Span]]) -> tuple[list[Vector], list[list[Vector]]]:
        """Passage vectors and their sentences' (``embed_with_spans``; ``RAG_SENTENCE_VECTORS``)."""
        from index.embedding import embed_with_spans

        return embed_with_spans(self.embedder, texts, spans, self.settings.sentence_vectors)

    @cached_property
    def _lexical_cache(self) -> LexicalCache:
        return LexicalCache(self.settings.data_dir / "lexical", self.settings.embed_model)

    @cached_property
    def store(self) -> Store:
        s = self.settings
        return Store(s.data_dir, s.collection, s.chroma_url)

    # --- writing -------------------------------------------------------------

    def ingest(self, paths: list[Path] | None = None, progress: "bool | Progress" = False) -> IngestReport:
        """Index the corpus folder (or ``paths``). After one that changed a good share of the articles (a first
        ingest, say), the in-memory index is brought up to date and saved (rag.lexical_cache), so that the next
        process, `rag serve` or `rag ask`, starts from it instead of reading every passage back."""
        self._health = None
        report = ingest(paths or [self.settings.corpus_dir], self.store, self.embed_passages,
                        self.settings.chunk_chars, progress=progress, max_bytes=self.settings.max_file_bytes,
                        known_words=self._dictionary)
        changed = len(report.added) + len(report.updated) + len(report.removed) + report.repaired
        if due(changed, changed + len(report.unchanged)):
            self.snapshot()
        return report

    def ensure_ingested(self) -> IngestReport | None:
        """At start: reconcile the corpus folder with the index (first start, a file left by a killed
        upload; only hashes when nothing changed), then check the index. Never raises for a damaged or
        unreachable store: ``health`` reports it and requests get a clear error.

        The model and the in-memory index load meanwhile, on another thread (the first answer needs both; the
        hashing and Chroma's reads leave the GIL free often enough: 0.6-1 s sooner at 10,000 articles)."""
        warm = threading.Thread(target=self._warm, name="rag-warm", daemon=True)
        try:
            self.store  # opened once, here, for both threads
            warm.start()
            report = (self.ingest(progress=bar_or_lines("indexing"))
                      if self.settings.corpus_dir.is_dir() or self.store.collection.count() == 0 else None)
            self._problems = (self.store.generation(), self.store.check())
        except StoreError as exc:
            if exc.kind == "damaged":
                self._problems = (0, [str(exc)])
            return None
        finally:
            if warm.ident is not None:
                warm.join()
        return report

    def _warm(self) -> None:
        """Load the model and the in-memory index. A failure is left for the first real use to report."""
        try:
            self.embedder
            self.snapshot()
        except Exception as exc:  # noqa: BLE001 - reported where it matters, by the request that needs it
            log.debug("warming up failed: %s", exc)

    def doctor(self) -> list[str]:
        """Full consistency check: manifest, Chroma's records and what a vector query reaches."""
        try:
            self._problems = (self.store.generation(), self.store.check(full=True))
        except StoreError as exc:
            if exc.kind != "damaged":
                raise
            self._problems = (0, [str(exc)])
        return self._problems[1]

    def rebuild(self) -> IngestReport:
        """Re-index the corpus folder into fresh collections and swap them in only when complete.

        A damaged embedded store that cannot even be opened is moved aside first."""
        try:
            store = self.store
        except StoreError as exc:
            if exc.kind != "damaged" or self.settings.chroma_url:
                raise
            quarantine(self.settings.data_dir)
            store = self.store
        with store.write_lock():
            fresh = store.fresh()
            report = ingest([self.settings.corpus_dir], fresh, self.embed_passages, self.settings.chunk_chars,
                            progress=True, max_bytes=self.settings.max_file_bytes, known_words=self._dictionary)
            problems = fresh.check(full=True)
            if problems:
                raise StoreError("the rebuilt index failed its check: " + "; ".join(problems), "damaged")
            store.activate(fresh)
        self._problems = (store.generation(), [])
        return report

    def add_document(self, filename: str, data: bytes) -> IngestReport:
        """Save an uploaded article into the corpus folder and index it at once."""
        name = Path(filename).name
        if not _SAFE_NAME.match(name) or Path(name).suffix.lower() not in ARTICLE_SUFFIXES:
            raise ArticleError("file name must be letters, digits, '_', '-', '.' and end in "
                               + ", ".join(ARTICLE_SUFFIXES))
        if len(data) > self.settings.max_upload_bytes:
            raise ArticleError(f"file is larger than {self.settings.max_upload_bytes} bytes")
        target = self.settings.corpus_dir / name
        article = parse(target, data)  # refuse before anything is written
        self.settings.corpus_dir.mkdir(parents=True, exist_ok=True)
        with self.store.write_lock():
            owner = self.store.owner_of(article.content_hash)
            if owner not in (None, article.doc_id) and Path(self._state(owner).path).is_file():
                raise ArticleError(f"duplicate of {owner} (identical content)")
            same_id = self.store.doc_states(article.doc_id).get(article.doc_id)
            if same_id and Path(same_id.path) != target.resolve() and Path(same_id.path).is_file():
                raise ArticleError(f"{Path(same_id.path).name} already holds article id {article.doc_id}; "
                                   "rename the file or delete that article first")
            before = target.read_bytes() if target.is_file() else None
            _write_atomic(target, data)
            report = self.ingest([target])
            if report.skipped:  # put back what was there: a refused upload changes nothing
                _write_atomic(target, before) if before is not None else target.unlink(missing_ok=True)
                raise ArticleError(report.skipped[0][1])
        return report

    def delete_document(self, doc_id: str) -> None:
        """Remove an article from the index and from the corpus folder."""
        with self.store.write_lock():
            path = Path(self._state(doc_id).path)
            self.store.delete(doc_id)
            if path.is_relative_to(self.settings.corpus_dir.resolve()):
                path.unlink(missing_ok=True)
            self.store.mark_changed()
        self._health = None

    # --- reading -------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The passages as last written by any process: writers bump the store's generation, and the
        articles whose content hash changed since the last sync are reloaded (only those)."""
        with self._snapshot_lock:
            generation = self.store.generation()
            snap = self._snapshot
            if snap is None:
                held = self._lexical_cache.load(self.store.live, self._dictionary) or Held.empty(self._dictionary)
                self._hold_dictionary(held.words)
                snap = Snapshot(-1, HybridRetriever(held.lexical, self._dense), Semantics(
                    self.embed_texts, self._query_vector, sentences=self.store.sentence_vectors,
                    words=held.words.get), held)
            if snap.generation != generation:
                with self._read_lock:
                    changed = self._sync(snap)
                    self._lexical_cache.changed(changed, self.store.live, snap.held)
                snap.generation = generation
            self._snapshot = snap
            return snap

    def _sync(self, snap: Snapshot) -> int:
        """Reload the articles whose content hash changed, drop those gone, read the vectors of the words
        they bring; how many articles that was."""
        states = {d: s for d, s in self.store.doc_states().items() if s.complete}
        lexical, hashes, words, texts = snap.held
        gone = [d for d in hashes if d not in states]
        for doc_id in gone:
            lexical.remove(doc_id)
            del hashes[doc_id]
            texts.pop(doc_id, None)
        changed = [d for d, s in states.items() if hashes.get(d) != s.doc_hash]
        vocabulary: set[str] = set()
        for doc_id, passages in self.store.passages_of(changed, {d: states[d].meta for d in changed}).items():
            lexical.add(doc_id, passages)
            hashes[doc_id] = states[doc_id].doc_hash
            vocabulary.update(w for p in passages for w in content_words(p.text))
        for doc_id in changed:
            texts.pop(doc_id, None)
        texts.update(self.store.texts_of(changed))
        words.add(self.store.word_vectors(words.missing(vocabulary)))
        return len(gone) + len(changed)

    def _dictionary(self) -> set[str]:
        from index.embedding import model_words

        if self._words is None:
            self._words = model_words(self.embedder)
        return self._words

    def _hold_dictionary(self, words: WordVectors) -> None:
        """Hold the vectors of every whole word the model knows, besides the corpus's: most of a question's
        words are then looked up, not embedded (NewsQA dev: one model call fewer for 76 of 234 questions)."""
        if words.missing(self._dictionary()):
            embedder = self.embedder
            path = dictionary_file(str(getattr(embedder, "model_name", "")), type(embedder).__name__,
                                   self.settings.data_dir / "lexical")
            words.add(dictionary_vectors(sorted(self._dictionary()), self.embed_texts, path))

    def _query_vectors(self, texts: list[str]) -> list[Vector]:
        """Query vectors, each text embedded once while cached (retrieval and sentence scoring embed the
        same question), the new ones in one model call."""
        with self._queries_lock:
            found = {t: self._queries[t] for t in texts if t in self._queries}
        if missing := [t for t in dict.fromkeys(texts) if t not in found]:
            found.update(zip(missing, embed_queries(self.embedder, missing)))
        with self._queries_lock:
            for t in texts:
                self._queries[t] = found[t]
                self._queries.move_to_end(t)
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return [found[t] for t in texts]

    def _query_vector(self, text: str) -> Vector:
        return self._query_vectors([text])[0]

    def _dense(self, forms: list[str], k: int, where: dict | None = None) -> list[list[tuple[str, float]]]:
        return self.store.query(self._query_vectors(forms), k, where)

    def check_question(self, question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise QuestionError("question is empty")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(f"question is longer than {self.settings.max_question_chars} characters")
        return question

    def retrieve(self, question: str, top_k: int | None = None, keep_each: int = 0,
                 filters: Filters | None = None) -> list[Hit]:
        return self._retrieve(self.snapshot(), question, top_k or self.settings.top_k, keep_each, filters)

    def _retrieve(self, snap: Snapshot, question: str, k: int, keep_each: int, filters: Filters | None) -> list[Hit]:
        self._query_vectors(query_forms(question))  # the model runs outside the read lock
        with self._read_lock:
            return snap.retriever.retrieve(question, k, keep_each, filters)

    def ask(self, question: str, top_k: int | None = None, history: list[dict[str, str]] | None = None,
            filters: Filters | None = None) -> Answer:
        question = self.check_question(question)
        top_k = top_k or self.settings.top_k
        snap = self.snapshot()  # one look at the shared generation per question
        focus, hits = self._evidence(snap, question, history, max(top_k, ANSWER_POOL), filters)
        with self._read_lock:
            result = answer(focus, hits, snap.idf, snap.semantics, asked=question, article=snap.held.texts.get)
        return result.model_copy(update={"citations": result.citations[:top_k]})

    def evidence(self, question: str, history: list[dict[str, str]] | None = None,
                 k: int = ANSWER_POOL, filters: Filters | None = None) -> tuple[str, list[Hit]]:
        """The typo-corrected question and the passages its answer is chosen from.

        A follow-up retrieves with the conversation's context but is answered as asked.
        """
        return self._evidence(self.snapshot(), question, history, k, filters)

    def _evidence(self, snap: Snapshot, question: str, history: list[dict[str, str]] | None, k: int,
                  filters: Filters | None) -> tuple[str, list[Hit]]:
        with self._read_lock:
            correct = snap.retriever.lexical.correct
            focus, context = correct(question), contextualize(question, history)
            query = focus if context == question else correct(context)
        return focus, self._retrieve(snap, query, k, KEEP_EACH, filters)

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(**state.meta, passages=state.stored)
                for _, state in sorted(self.store.doc_states().items())]

    def _state(self, doc_id: str) -> DocState:
        state = self.store.doc_states(doc_id).get(doc_id)
        if state is None:
            raise NotFound(doc_id)
        return state

    def document(self, doc_id: str) -> Document:
        """Metadata and the raw text that citation offsets index."""
        state = self._state(doc_id)
        text = self.store.text_of(doc_id)
        if text is None:  # an index written before manifest records kept the text
            try:
                text = parse(Path(state.path)).raw_text
            except ArticleError:
                text = ""
        return Document(**state.meta, passages=state.stored, text=text)

    def health(self) -> dict:
        """Constant time, from record counts and the shared state: a probe never loads the model or reads
        the corpus. Concurrent probes share one computation (at most one a second)."""
        if not self._health_lock.acquire(blocking=self._health is None):
            return self._health[1]  # another probe is computing: answer with the last figures
        try:
            if self._health is None or time.monotonic() - self._health[0] >= 1.0:
                self._health = (time.monotonic(), self._health_now())
            return self._health[1]
        finally:
            self._health_lock.release()

    def _health_now(self) -> dict:
        base = {"embed_model": self.settings.embed_model, "store": "server" if self.settings.chroma_url
                else "embedded"}
        try:
            c = self.store.counts()
            problems = self.store.check_counts(c)
            generation, found = self._problems
            if found and generation in (0, self.store.generation()):
                problems = found + problems
        except StoreError as exc:
            if exc.kind != "damaged":
                raise
            return {**base, "status": "degraded", "reason": str(exc), "articles": 0, "passages": 0}
        return {**base, "status": "degraded" if problems else "ok", "reason": "; ".join(problems) or None,
                "articles": c["articles"], "passages": c["passages"]}

    # --- news that arrives as data: links, feeds, dumps (index/sources) -------

    def intake(self) -> "Intake":
        """Fetches and extracts under the RAG_FETCH_* limits, writes corpus files, indexes them."""
        from index.sources.fetch import FetchPolicy
        from index.sources.intake import Intake

        s = self.settings
        policy = FetchPolicy(timeout=s.fetch_timeout, max_bytes=s.fetch_max_bytes, max_redirects=s.fetch_max_redirects,
                             allow_networks=tuple(s.fetch_allow_networks.split()))
        return Intake(s.corpus_dir, self.ingest, self.store.write_lock, policy, s.dump_batch_rows)

    def ingest_urls(self, urls: list[str]) -> IngestReport:
        return self.intake().urls(urls)

    def ingest_feeds(self, urls: list[str], refresh: bool = False) -> IngestReport:
        return self.intake().feeds(urls, refresh)

    def ingest_dump(self, path: Path, fields: "FieldMap") -> IngestReport:
        return self.intake().dump(path, fields)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    tmp.replace(path)
