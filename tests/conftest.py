"""Shared fixtures: one real model load per session, real embedded Chroma under tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.service import RagService
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DEV_SET = ROOT / "tests" / "data" / "dev.jsonl"
# The plumbing tests' question about the seeds: written for the tests, asked by no fitting set
# (tests/data/*.jsonl), answered by one sentence whose highlighted name is HELD_OUT_ANSWER.
HELD_OUT_Q = "Who is the secretary of Russia's Security Council?"
HELD_OUT_ANSWER = "Nikolai Patrushev"


@pytest.fixture(scope="session")
def embedder():
    from index.embedding import load_embedder

    return load_embedder(Settings().embed_model)


def make_settings(base: Path, **overrides) -> Settings:
    corpus = base / "corpus"
    if not corpus.exists():
        shutil.copytree(SEEDS, corpus)
    return Settings(corpus_dir=corpus, data_dir=base / "data", **overrides).resolved()


@pytest.fixture
def service(tmp_path, embedder) -> RagService:
    """A fresh service over a private copy of the seeds (not yet ingested)."""
    return RagService(make_settings(tmp_path), embedder=embedder)


@pytest.fixture(scope="session")
def seeded(tmp_path_factory, embedder) -> RagService:
    """The seeds, ingested once for the session; tests must not write to it."""
    svc = RagService(make_settings(tmp_path_factory.mktemp("seeded")), embedder=embedder)
    svc.ingest()
    return svc


def assert_passages_exact(svc: RagService) -> int:
    """Every stored passage, read back from the store, is its document's text ``[start:end]``
    (the text ``RagService.document`` serves), each document's passages are all there, and they
    cover every content character of the article (nothing dropped). Returns the passages checked."""
    from index.article import parse

    stored: dict[str, list] = {}
    for p in svc.store.passages():
        stored.setdefault(p.doc_id, []).append(p)
    states = svc.store.doc_states()
    assert set(stored) == set(states) == {d.doc_id for d in svc.documents()}
    for doc_id, passages in stored.items():
        state, text = states[doc_id], svc.document(doc_id).text
        assert state.complete and len(passages) == state.n_passages, doc_id
        for p in passages:
            assert text[p.start:p.end] == p.text, (doc_id, p.start, p.end, p.text[:60], text[p.start:p.end][:60])
        covered = {i for p in passages for i in range(p.start, p.end)}
        article = parse(Path(state.path))
        dropped = [i for s, e in article.spans for i in range(s, e) if i not in covered and not text[i].isspace()]
        assert not dropped, (doc_id, text[dropped[0]:dropped[0] + 60])
    return sum(map(len, stored.values()))
