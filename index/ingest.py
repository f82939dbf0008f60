"""Bring a set of article files into the index: content hashes decide what to embed."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from pathlib import Path

from index.article import ARTICLE_SUFFIXES, Article, ArticleError, file_hash, parse
from index.chunking import chunk, make_splitter
from index.embedding import Span, Vector
from index.store import DocState, Store, Written
from index.text import content_words, sentence_spans

# Texts and spans within each (a passage's sentences) -> the texts' vectors and each span's vector.
Embed = Callable[[list[str], list[list[Span]]], tuple[list[Vector], list[list[Vector]]]]
Progress = Callable[[int, int, str], None]  # (files done, files in all, the file's name)
BATCH_PASSAGES = 512  # passages embedded and written per round trip, across articles


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    passages_embedded: int = 0
    encodings: dict[str, str] = field(default_factory=dict)  # path -> non-UTF-8 encoding used
    repaired: int = 0  # documents redone or dropped because an earlier write was interrupted

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.repaired)

    def summary(self) -> str:
        lines = [f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
                 f"removed {len(self.removed)}, skipped {len(self.skipped)} "
                 f"({self.passages_embedded} passages embedded)"]
        if self.repaired:
            lines.append(f"  repaired {self.repaired} documents left unfinished by an interrupted write")
        lines += [f"  skipped {path!r}: {reason}" if "\n" in path else f"  skipped {path}: {reason}"
                  for path, reason in self.skipped]
        lines += [f"  decoded {path} as {enc} (not UTF-8)" for path, enc in self.encodings.items()]
        return "\n".join(lines)


def _unusable(path: str | Path, root: Path | None, max_bytes: int | None) -> str | None:
    """Why ``path`` cannot be read as an article file (None when it can)."""
    try:
        st = os.lstat(path)  # one call for the common case, a plain file
        if stat.S_ISLNK(st.st_mode):
            target = Path(path).resolve()
            if not target.exists():
                return "broken symlink"
            if root is not None and not target.is_relative_to(root):
                return "symlink to a file outside the corpus folder (not followed)"
            st = os.stat(path)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISDIR(st.st_mode):
        return "a directory, not an article file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (FIFO, socket or device)"
    if max_bytes is not None and st.st_size > max_bytes:
        return f"file is {st.st_size} bytes, over the {max_bytes}-byte limit (RAG_MAX_FILE_BYTES)"
    return None


def collect(paths: Iterable[Path], max_bytes: int | None = None
            ) -> tuple[list[Path], list[Path], list[tuple[str, str]]]:
    """Expand folders into article files: ``(files, folders scanned, skipped with reasons)``.

    Symbolic links are kept as named (not resolved), and one leading out of its folder is not followed.
    """
    files: list[Path] = []
    folders: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for given in paths:
        path = Path(os.path.abspath(given))
        if not path.is_dir():
            reason = _unusable(path, None, max_bytes)
            (skipped.append((str(path), reason)) if reason else files.append(path))
            continue
        folders.append(path)
        root = path.resolve()
        for dirpath, dirnames, filenames in os.walk(path):  # does not descend into linked folders
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(dirnames + filenames):
                if name.startswith(".") or os.path.splitext(name)[1].lower() not in ARTICLE_SUFFIXES:
                    continue
                candidate = os.path.join(dirpath, name)  # a Path only for the files kept: half of the scan's time
                reason = _unusable(candidate, root, max_bytes)
                (skipped.append((candidate, reason)) if reason else files.append(Path(candidate)))
    return files, folders, skipped


class _Batches:
    """Chunk articles as they come; embed (shortest texts first) and write a batch at a time."""

    def __init__(self, store: Store, embed: Embed, max_chars: int, report: IngestReport,
                 known_words: Callable[[], Set[str]]) -> None:
        self.store, self.embed, self.report, self.known_words = store, embed, report, known_words
        self.splitter = make_splitter(max_chars)
        self.pending: list[tuple[Article, str, list, bool]] = []
        self.size = 0

    def add(self, article: Article, digest: str, update: bool) -> None:
        passages = chunk(article, splitter=self.splitter)
        self.pending.append((article, digest, passages, update))
        self.size += len(passages)
        if self.size >= BATCH_PASSAGES:
            self.flush()

    def flush(self) -> None:
        """Embed the pending passages, their sentences and the words the store has no vector for yet (nor
        the answerer without it: ``known_words``): what answering needs about a passage is computed here, once,
        not at question time."""
        texts = [p.text for _, _, passages, _ in self.pending for p in passages]
        spans = [sentence_spans(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding per model batch
        vectors: list[Vector] = [[]] * len(texts)
        sentences: list[list[tuple[Span, Vector]]] = [[] for _ in texts]
        if texts:
            embedded, pooled = self.embed([texts[i] for i in order], [spans[i] for i in order])
            for i, vector, sentence_vectors in zip(order, embedded, pooled):
                vectors[i], sentences[i] = vector, list(zip(spans[i], sentence_vectors))
        words = self.store.missing_words(sorted({w for t in texts for w in content_words(t)} - self.known_words()))
        word_vectors = self.embed(words, [[] for _ in words])[0] if words else []
        written, at = [], 0
        for article, digest, passages, _ in self.pending:
            end = at + len(passages)
            written.append(Written(article, digest, passages, vectors[at:end], sentences[at:end]))
            at = end
        self.store.write(written, dict(zip(words, word_vectors)))
        for article, _, passages, update in self.pending:
            (self.report.updated if update else self.report.added).append(article.doc_id)
        self.report.passages_embedded += len(texts)
        self.pending, self.size = [], 0


def ingest(paths: Iterable[Path], store: Store, embed: Embed, max_chars: int = 400,
           progress: bool | Progress = False, max_bytes: int | None = None,
           known_words: Callable[[], Set[str]] = frozenset) -> IngestReport:
    """Index ``paths`` (files or folders) incrementally.

    ``progress``: True for a tqdm bar naming the file at hand, or a callable given (done, total, file name)
    for each file looked at (e.g. periodic log lines).

    Unchanged files (same bytes, sidecar and parser version, same path) are only hashed: nothing is parsed or embedded, and when
    nothing changed no lock is taken. Changed files replace their passages; documents whose file left a
    scanned folder are removed; identical content under a second name is skipped; each unusable file is
    reported and the rest goes on. Records left by an interrupted write are found and redone.
    ``known_words`` gives the words whose vectors every answering process holds without the store (the
    model's dictionary, rag.word_vectors), so neither embedded nor stored here; asked only when something
    is embedded (it needs the model, which an unchanged corpus never loads).
    """
    paths = list(paths)
    files, folders, skipped = collect(paths, max_bytes)
    quick = _unchanged(files, folders, store)
    if quick is not None:
        return IngestReport(unchanged=quick, skipped=skipped)
    with store.write_lock():
        return _ingest(files, folders, skipped, store, embed, max_chars, progress, known_words)


def _unchanged(files: list[Path], folders: list[Path], store: Store) -> list[str] | None:
    """The document ids when every file matches the manifest and nothing else needs doing, else None."""
    states = store.doc_states()
    by_path = {s.path: s for s in states.values()}
    last = store.last_write()  # a write that began and never finished says so here (Store._begin_write)
    if last["writing"] or (last["expected_articles"], last["expected_passages"]) != (
            len(states), sum(s.n_passages for s in states.values())):
        return None
    ids = []
    for path in files:
        state = by_path.pop(str(path), None)
        try:
            if state is None or state.file_hash != file_hash(path, path.read_bytes()):
                return None
        except OSError:
            return None
        ids.append(state.doc_id)
    if any(_gone(s.path, folders) for s in by_path.values()):
        return None
    return ids


def _repair(store: Store, states: dict[str, DocState]) -> set[str]:
    """After an interrupted write: drop records no manifest entry owns; return documents stored short."""
    stored = store.stored_counts()
    orphans = [d for d in stored if d not in states]
    store.delete(orphans)
    return {d for d, s in states.items() if stored.get(d, 0) != s.n_passages} | set(orphans)


def _ingest(files: list[Path], folders: list[Path], skipped: list[tuple[str, str]], store: Store,
            embed: Embed, max_chars: int, progress: bool | Progress,
            known_words: Callable[[], Set[str]]) -> IngestReport:
    from tqdm import tqdm

    report = IngestReport(skipped=list(skipped))
    states = store.doc_states()
    counts = store.counts()
    consistent = counts["passages"] == sum(s.n_passages for s in states.values()) == counts["expected_passages"]
    redo = set() if consistent and counts["articles"] == len(states) else _repair(store, states)
    report.repaired = len(redo)
    by_path = {s.path: s for s in states.values()}
    owner_of_hash = {s.doc_hash: s.doc_id for s in states.values()}
    seen_ids: dict[str, str] = {}
    batches = _Batches(store, embed, max_chars, report, known_words)
    bar = tqdm(files, desc="ingest", unit="file", disable=progress is not True or len(files) < 10)
    for done, path in enumerate(bar, 1):
        bar.set_postfix_str(path.name, refresh=False)
        if callable(progress):
            progress(done, len(files), path.name)
        try:
            data = path.read_bytes()
            digest = file_hash(path, data)
            state = by_path.get(str(path))
            if state and state.file_hash == digest and state.doc_id not in redo and state.doc_id not in seen_ids:
                seen_ids[state.doc_id] = str(path)
                report.unchanged.append(state.doc_id)
                continue
            article = parse(path, data)
        except ArticleError as exc:
            report.skipped.append((str(path), str(exc)))
            continue
        except OSError as exc:  # e.g. a name too long for its sidecar's name
            report.skipped.append((str(path), f"cannot read: {exc.strerror or exc}"))
            continue
        if article.encoding != "utf-8":
            report.encodings[str(path)] = article.encoding
        if article.doc_id in seen_ids:
            report.skipped.append((str(path), f"same document id as {seen_ids[article.doc_id]}"))
            continue
        owner = owner_of_hash.get(article.content_hash)
        if owner is not None and owner != article.doc_id and (owner in seen_ids or _still_there(states, owner)):
            report.skipped.append((str(path), f"duplicate of {owner} (identical content)"))
            continue
        seen_ids[article.doc_id] = str(path)
        owner_of_hash[article.content_hash] = article.doc_id
        batches.add(article, digest, update=article.doc_id in states)
    batches.flush()
    report.removed = [d for d, s in states.items() if d not in seen_ids and _gone(s.path, folders)]
    store.delete(report.removed)
    if report.changed or not consistent or counts["writing"]:
        store.mark_changed()
    return report


def _still_there(states: dict[str, DocState], doc_id: str) -> bool:
    return doc_id in states and Path(states[doc_id].path).is_file()


def _gone(path: str, folders: list[Path]) -> bool:
    """A stored document goes when it lies in a folder being synced and was not found there.

    Documents outside the scanned folders stay: on a shared Chroma server they may be another
    machine's files.
    """
    return any(Path(path).is_relative_to(f) for f in folders)
