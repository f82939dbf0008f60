"""The saved lexical index (rag.lexical_cache): a new process starts from it, reloads from the store only
the articles that changed since it was written, and ignores a damaged or foreign file."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from index.text import content_words
from rag.service import RagService
from tests.conftest import HELD_OUT_ANSWER, HELD_OUT_Q
from tests.test_service_edges import SEED_000, notice


def reloads(svc: RagService) -> list[list[str]]:
    """Record which articles the service reads back from the store to build its in-memory index."""
    calls: list[list[str]] = []
    read = svc.store.passages_of

    def spy(doc_ids, metas, *args, **kwargs):
        calls.append(sorted(doc_ids))
        return read(doc_ids, metas, *args, **kwargs)

    svc.store.passages_of = spy
    return calls


def cache_file(svc: RagService):
    return svc.settings.data_dir / "lexical" / f"{svc.store.live}.pickle"


@pytest.fixture
def ingested(service) -> RagService:
    service.ingest()
    return service


def test_a_new_process_starts_from_the_saved_index(ingested, embedder) -> None:
    first = ingested.snapshot()
    assert cache_file(ingested).is_file()
    fresh = RagService(ingested.settings, embedder=embedder)
    calls = reloads(fresh)
    snap = fresh.snapshot()
    assert calls == [[]]  # nothing read back: every article's hash matched the saved one
    assert [p.passage_id for p in snap.passages] == [p.passage_id for p in first.passages]
    assert dict(snap.idf) == dict(first.idf)
    assert HELD_OUT_ANSWER in fresh.ask(HELD_OUT_Q).answer


def test_changes_made_since_the_save_are_reloaded_article_by_article(ingested, embedder) -> None:
    ingested.snapshot()
    saved = cache_file(ingested).read_bytes()
    writer = RagService(ingested.settings, embedder=embedder)  # another process
    writer.add_document("zz_bridge.md", notice("Ravensworth", 14).encode())
    writer.delete_document(SEED_000)
    cache_file(ingested).write_bytes(saved)  # as if saved before those changes (a crash before the next save)
    fresh = RagService(ingested.settings, embedder=embedder)
    calls = reloads(fresh)
    snap = fresh.snapshot()
    assert calls == [["zz_bridge"]]
    assert SEED_000 not in snap.hashes and all(p.doc_id != SEED_000 for p in snap.passages)
    assert "14 cracked slabs" in fresh.ask("How many slabs are being replaced on the Ravensworth bridge?").answer


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_a_damaged_or_foreign_file_is_rebuilt_from_the_store(ingested, embedder, damage) -> None:
    expected = [p.passage_id for p in ingested.snapshot().passages]
    path = cache_file(ingested)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:  # written by other code (another version of the product): its key differs
        with path.open("wb") as f:
            pickle.dump({"fingerprint": "other", "live": ingested.store.live, "model": "other"}, f)
            pickle.dump(("not an index", {}), f)
    fresh = RagService(ingested.settings, embedder=embedder)
    calls = reloads(fresh)
    assert [p.passage_id for p in fresh.snapshot().passages] == expected
    assert len(calls[0]) == len(ingested.documents())  # every article read back
    assert HELD_OUT_ANSWER in fresh.ask(HELD_OUT_Q).answer


def test_an_ingest_that_changes_much_leaves_the_saved_index_current(service, embedder) -> None:
    """`rag ingest` then `rag serve`: the server starts from the index the ingest saved."""
    service.ingest()  # a first ingest: every article changed
    assert cache_file(service).is_file()
    fresh = RagService(service.settings, embedder=embedder)
    calls = reloads(fresh)
    assert len(fresh.snapshot().hashes) == len(service.documents()) and calls == [[]]


def word_reads(svc: RagService) -> list[list[str]]:
    """Record the words whose vectors the service reads from the store."""
    calls: list[list[str]] = []
    read = svc.store.word_vectors
    svc.store.word_vectors = lambda words: calls.append(list(words)) or read(words)
    return calls


def test_the_corpus_words_are_held_in_memory_and_answering_reads_none_from_the_store(ingested, embedder) -> None:
    held = ingested.snapshot().held.words
    vocabulary = {w for p in ingested.snapshot().passages for w in content_words(p.text)}
    known = vocabulary | ingested._dictionary()  # the model's dictionary is held too (rag.word_vectors)
    assert len(held) == len(known) and not held.missing(known)
    stored = ingested.store.word_vectors(sorted(vocabulary)[::40])
    for word, vector in held.get(list(stored)).items():  # float16 in memory: the stored vector to 3 decimals
        assert np.abs(vector - stored[word]).max() < 2e-3

    fresh = RagService(ingested.settings, embedder=embedder)  # starts from the saved copy
    reads = word_reads(fresh)
    assert len(fresh.snapshot().held.words) == len(known)
    assert HELD_OUT_ANSWER in fresh.ask(HELD_OUT_Q).answer
    assert reads == [[]]  # the sync found nothing new; the answer read no word


def test_an_article_added_by_another_process_brings_its_words(ingested, embedder) -> None:
    ingested.snapshot()
    writer = RagService(ingested.settings, embedder=embedder)
    writer.add_document("zz_bridge.md", notice("Ravensworth", 14).encode())
    reads = word_reads(ingested)
    reply = ingested.ask("How many slabs are being replaced on the Ravensworth bridge?")
    assert "14 cracked slabs" in reply.answer
    assert len(reads) == 1 and "ravensworth" in reads[0] and "belarus" not in reads[0]  # only the new words
    assert ingested.snapshot().held.words.get(["ravensworth"])


def test_the_article_texts_are_held_in_memory_and_follow_other_processes_changes(ingested, embedder) -> None:
    """The answer reads on into its article's text (the next sentence, the lead): held, not read per question."""
    held = ingested.snapshot().held.texts
    assert held == {d.doc_id: ingested.store.text_of(d.doc_id) for d in ingested.documents()}
    writer = RagService(ingested.settings, embedder=embedder)
    writer.add_document("zz_bridge.md", notice("Ravensworth", 14).encode())
    writer.add_document("zz_bridge.md", notice("Ravensworth", 15).encode())  # replaced
    writer.delete_document(SEED_000)
    ingested.store.text_of = lambda doc_id: pytest.fail("answering read an article's text from the store")
    assert "15 cracked slabs" in ingested.ask("How many slabs are being replaced on the Ravensworth bridge?").answer
    texts = ingested.snapshot().held.texts
    assert SEED_000 not in texts and "15 cracked slabs" in texts["zz_bridge"] and "14 cracked" not in texts["zz_bridge"]


def test_start_up_loads_the_in_memory_index_while_the_folder_is_checked(ingested, embedder) -> None:
    fresh = RagService(ingested.settings, embedder=embedder)
    assert fresh.ensure_ingested().changed is False
    assert fresh._snapshot is not None and "rag-warm" not in {t.name for t in threading.enumerate()}
    calls = reloads(fresh)
    assert HELD_OUT_ANSWER in fresh.ask(HELD_OUT_Q).answer and calls == []  # nothing left to load
