"""Past Chroma's SQL-variable limit (~32.7k records in one `get`): every read pages.

Uses a CHEAP DETERMINISTIC EMBEDDER (hashed bag of words, 64 dimensions) instead of the model, to
isolate the store and pipeline at 34,000 passages on a 2-core CI machine; the real model is tested
everywhere else. Real embedded Chroma, real ingest, docs, health, ask, re-ingest and delete.
"""

from __future__ import annotations

import hashlib
import math
import random
import time

from tests.conftest import make_settings

from rag.service import RagService

ARTICLES, LINES = 1_700, 20  # 34,000 passages: past the ~32,700 where an unpaged `get` fails
DIM = 64


class CheapEmbedder:
    """Deterministic, model-free: each word adds to a hashed dimension; vectors are L2-normalised."""

    def _vector(self, text: str) -> list[float]:
        v = [0.0] * DIM
        for word in text.lower().split():
            h = int.from_bytes(hashlib.blake2b(word.strip(".,?").encode(), digest_size=4).digest(), "big")
            v[h % DIM] += 1.0 if h & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    def get_text_embedding_batch(self, texts: list[str], **_) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)


WORDS = ("harbour council river bridge minister strike festival vote court market school storm rail "
         "museum election hospital farm police budget airport factory border treaty drought ferry").split()


def write_corpus(corpus, rng: random.Random) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for old in corpus.iterdir():
        old.unlink()
    for a in range(ARTICLES):
        town = f"Town{a:04d}"
        lines = [f"# {town} {rng.choice(WORDS)} report number {a}", ""]
        for i in range(LINES):
            words = " ".join(rng.choice(WORDS) for _ in range(8))
            lines += [f"In {town}, item {i} says the {words} rose by {rng.randint(2, 999)} units on day {i}.", ""]
        (corpus / f"art{a:04d}.txt").write_text("\n".join(lines), encoding="utf-8")
    (corpus / "art0007.txt").write_text(
        "# Zephyrine lighthouse\n\nThe Zephyrine lighthouse keepers counted 4,812 gulls on Monday.\n",
        encoding="utf-8")


def test_34k_passages_docs_health_ask_reingest_delete(tmp_path) -> None:
    settings = make_settings(tmp_path)
    write_corpus(settings.corpus_dir, random.Random(13))
    svc = RagService(settings, embedder=CheapEmbedder())
    t0 = time.perf_counter()
    report = svc.ingest()
    t_ingest = time.perf_counter() - t0
    expected = report.passages_embedded  # a headline and twenty lines per article
    assert expected > 34_000 and len(report.added) == ARTICLES

    docs = svc.documents()
    assert len(docs) == ARTICLES and sum(d.passages for d in docs) == expected
    t0 = time.perf_counter()
    health = svc.health()
    t_health = time.perf_counter() - t0
    assert (health["status"], health["articles"], health["passages"]) == ("ok", ARTICLES, expected)
    assert svc.document("art0007").passages == 2

    result = svc.ask("How many gulls did the Zephyrine lighthouse keepers count?")
    assert result.citations and result.citations[0].doc_id == "art0007"

    t0 = time.perf_counter()
    again = svc.ingest()
    t_reingest = time.perf_counter() - t0
    assert again.passages_embedded == 0 and len(again.unchanged) == ARTICLES and not again.changed

    svc.delete_document("art0007")
    assert svc.health()["passages"] == expected - 2 and len(svc.documents()) == ARTICLES - 1
    result = svc.ask("How many gulls did the Zephyrine lighthouse keepers count?")
    assert all(c.doc_id != "art0007" for c in result.citations)
    assert svc.doctor() == []
    print(f"\n34k passages, cheap embedder: ingest {t_ingest:.1f}s, re-ingest {t_reingest:.1f}s "
          f"({t_reingest / t_ingest:.2f}x), health {t_health * 1000:.1f}ms")
