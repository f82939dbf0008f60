"""Bring a set of article files into the index: content hashes decide what to embed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from index.article import ARTICLE_SUFFIXES, Article, ArticleError, parse
from index.chunking import chunk, make_splitter
from index.store import Store

Embed = Callable[[list[str]], list[list[float]]]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    passages_embedded: int = 0
    encodings: dict[str, str] = field(default_factory=dict)  # path -> non-UTF-8 encoding used

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        lines = [f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
                 f"removed {len(self.removed)}, skipped {len(self.skipped)} "
                 f"({self.passages_embedded} passages embedded)"]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        lines += [f"  decoded {path} as {enc} (not UTF-8)" for path, enc in self.encodings.items()]
        return "\n".join(lines)


def collect(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Expand folders into article files; return ``(files, folders scanned)``."""
    files: list[Path] = []
    folders: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            folders.append(path.resolve())
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES
                            and not p.name.startswith("."))
        else:
            files.append(path)
    return [f.resolve() for f in files], folders


def ingest(paths: Iterable[Path], store: Store, embed: Embed, max_chars: int = 400,
           progress: bool = False) -> IngestReport:
    """Index ``paths`` (files or folders) incrementally.

    Unchanged documents (same content hash, all passages stored) embed nothing;
    changed ones replace their passages; documents whose file disappeared from a
    scanned folder are removed; identical content under a second name is skipped.
    """
    from tqdm import tqdm

    files, folders = collect(paths)
    report = IngestReport()
    splitter = make_splitter(max_chars)
    with store.write_lock():
        states = store.doc_states()
        owner_of_hash = {s.doc_hash: s.doc_id for s in states.values()}
        seen_ids: dict[str, str] = {}
        for path in tqdm(files, desc="ingest", unit="file", disable=not progress or len(files) < 10):
            try:
                article = parse(path)
            except ArticleError as exc:
                report.skipped.append((str(path), str(exc)))
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
            state = states.get(article.doc_id)
            if state and state.doc_hash == article.content_hash and state.complete and state.path == str(path):
                report.unchanged.append(article.doc_id)
                continue
            report.passages_embedded += _write(article, store, embed, splitter)
            (report.updated if state else report.added).append(article.doc_id)
        for doc_id, state in states.items():
            if doc_id not in seen_ids and _gone(state.path, folders):
                store.delete(doc_id)
                report.removed.append(doc_id)
        if report.changed:
            store.mark_changed()
    return report


def _still_there(states: dict, doc_id: str) -> bool:
    return Path(states[doc_id].path).is_file()


def _gone(path: str, folders: list[Path]) -> bool:
    """A stored document goes when its file vanished, or left a folder being synced."""
    p = Path(path)
    return not p.is_file() or any(p.is_relative_to(f) for f in folders)


def _write(article: Article, store: Store, embed: Embed, splitter) -> int:
    passages = chunk(article, splitter=splitter)
    embeddings = embed([p.text for p in passages])
    store.replace(article, passages, embeddings)
    return len(passages)
