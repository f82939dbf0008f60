"""The incremental BM25's query-time cache of posting arrays stays within its bound and changes no score."""

from __future__ import annotations

import rag.bm25
from rag.bm25 import BM25

DOCS = {f"p{i}": f"harbour ferry {'storm ' * (i % 3)}quay{i} bell{i % 5} lighthouse" for i in range(40)}
QUERIES = [["harbour", "storm"], ["bell1", "ferry"], ["quay7", "lighthouse"], ["bell3"], ["storm", "quay12"]]


def index() -> BM25:
    bm = BM25()
    for pid, text in DOCS.items():
        bm.add(pid, text.split())
    return bm


def test_posting_array_cache_is_bounded_and_changes_no_score(monkeypatch) -> None:
    expected = [index().search(q, 10) for q in QUERIES]
    monkeypatch.setattr(rag.bm25, "ARRAY_CACHE_ENTRIES", 50)
    small = index()
    for _ in range(3):
        assert [small.search(q, 10) for q in QUERIES] == expected
        assert small._array_entries <= 50 and small._array_entries == sum(len(r) for r, _ in small._arrays.values())
    small.remove("p3")  # a change drops the changed terms' arrays, and the count follows
    assert small._array_entries == sum(len(r) for r, _ in small._arrays.values())
    assert "p3" not in dict(small.search(["quay3", "harbour"], 40))
