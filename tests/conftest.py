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
