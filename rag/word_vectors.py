"""The vectors of words, held in memory for soft term coverage (rag.semantics): the whole words the model's
tokenizer knows (its dictionary: 22,501 for MiniLM) and the corpus's words beyond those.

The dictionary's vectors are embedded once per model and machine and saved beside the model's weights
(``dictionary_vectors``); ingest stores a vector for each other content word in the index
(``Store.word_vectors``), and each process reads those into memory: reading a question's candidate words back
from Chroma cost about 4.5 ms an answer at 3,000 articles, most of it Chroma's fixed cost per read. Held, a
question's words need no model call unless the model's dictionary and the corpus both lack them (31 of NewsQA
dev's 234 questions). The vocabulary grows far slower than the corpus, so the serving process holds it all:
float16, 768 bytes a word (17 MB for the dictionary). Rows are only ever added: a word's vector depends on
the model alone, which the saved copy (rag.lexical_cache) is keyed by.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.embedding import files_key

log = logging.getLogger(__name__)

DICTIONARY_VERSION = 1
_WEIGHTS = (".safetensors", ".bin", ".onnx")


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


def dictionary_file(model_name: str, kind: str, fallback: Path) -> Path:
    """Where the vectors of a model's dictionary live: beside its weights (one file for every data folder on
    the machine, like the ONNX export) where that folder is writable, else in ``fallback``. The name is keyed
    by the embedder's kind and the weights' names, sizes and times, so new weights never read old vectors."""
    path = Path(model_name)
    weights = [path] if path.is_file() else sorted(p for p in path.glob("*") if p.suffix in _WEIGHTS) \
        if path.is_dir() else []
    key = files_key([kind, model_name, DICTIONARY_VERSION], weights)
    folder = path.parent if path.is_file() else path
    return (folder if weights and os.access(folder, os.W_OK) else fallback) / f"dictionary-{key}.npz"


def dictionary_vectors(words: list[str], embed: Callable[[list[str]], list[list[float]]],
                       path: Path) -> dict[str, np.ndarray]:
    """The vectors of ``words`` (the whole words the model's tokenizer knows): read from ``path``, else
    embedded now and saved there. Held in memory, they spare a question's words being embedded at question
    time: done once per model and machine (22,501 words of MiniLM: 12 s on ONNX, 20 s on torch, 2 cores)."""
    try:
        with np.load(path) as saved:
            found = dict(zip(saved["words"].tolist(), saved["vectors"]))
        if found.keys() >= set(words):
            return {w: found[w] for w in words}
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 - a damaged file is embedded again, never trusted
        log.warning("ignoring the saved dictionary vectors %s: %s", path, exc)
    log.info("embedding the model's %d dictionary words once (saved to %s)", len(words), path)
    vectors = np.asarray(embed(words), dtype=np.float16)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            np.savez(f, words=np.asarray(words), vectors=vectors)
        tmp.replace(path)
    except OSError as exc:  # a read-only or full disk: embedded again by the next process
        log.warning("could not save the dictionary vectors to %s: %s", path, exc)
        tmp.unlink(missing_ok=True)
    return dict(zip(words, vectors))
