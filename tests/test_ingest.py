"""Ingestion against the real model and a real embedded Chroma."""

from __future__ import annotations

import shutil

from rag.service import RagService
from tests.conftest import SEEDS

NEW_ARTICLE = ("# Lighthouse keepers strike\n\nBy Test Wire\n\nMarch 3, 2024\n\n"
               "The lighthouse keepers of Port Vellum walked out on Wednesday over unpaid overtime.\n"
               "Their union said 42 keepers joined the strike.\n")


def test_ingest_then_reingest_embeds_nothing(service) -> None:
    first = service.ingest()
    assert sorted(first.added) == sorted(p.stem for p in SEEDS.glob("*.txt"))
    assert first.passages_embedded > 50
    again = service.ingest()
    assert again.passages_embedded == 0 and len(again.unchanged) == 5 and not again.changed
    docs = service.documents()
    assert len(docs) == 5 and all(d.passages > 5 for d in docs)


def test_modified_deleted_duplicate_and_broken_files(service) -> None:
    corpus = service.settings.corpus_dir
    service.ingest()
    (corpus / "zz_new.md").write_text(NEW_ARTICLE, encoding="utf-8")
    shutil.copy(corpus / "000_7461797e538ad034.txt", corpus / "copy_of_000.txt")
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02binary")
    report = service.ingest()
    assert report.added == ["zz_new"]
    reasons = dict(report.skipped)
    assert "duplicate of 000_7461797e538ad034" in reasons[str(corpus / "copy_of_000.txt")]
    assert "binary" in reasons[str(corpus / "broken.txt")]
    assert report.passages_embedded == len([p for p in service.snapshot().passages if p.doc_id == "zz_new"])
    assert "Port Vellum" in service.ask("Where did the lighthouse keepers strike?").answer

    (corpus / "zz_new.md").write_text(NEW_ARTICLE.replace("42 keepers", "57 keepers"), encoding="utf-8")
    report = service.ingest()
    assert report.updated == ["zz_new"] and len(report.unchanged) == 5
    texts = [p.text for p in service.snapshot().passages if p.doc_id == "zz_new"]
    assert any("57 keepers" in t for t in texts) and not any("42 keepers" in t for t in texts)

    (corpus / "zz_new.md").unlink()
    report = service.ingest()
    assert report.removed == ["zz_new"]
    assert {d.doc_id for d in service.documents()} == {p.stem for p in SEEDS.glob("*.txt")}


def test_manifest_records_of_the_older_form_still_read(service) -> None:
    """Manifest records once held each field apart; an index written then reads the same and re-ingests nothing."""
    import json

    service.ingest()
    before = service.store.doc_states()
    got = service.store.manifest.get(include=["metadatas"])
    older = [{**json.loads(m["state"]), "state": None} for m in got["metadatas"]]  # None removes the key
    service.store.manifest.update(ids=got["ids"], metadatas=older)
    assert "state" not in service.store.manifest.get(limit=1, include=["metadatas"])["metadatas"][0]
    assert service.store.doc_states() == before
    assert service.ingest().passages_embedded == 0
    assert service.store.owner_of(before["000_7461797e538ad034"].doc_hash) == "000_7461797e538ad034"


def test_the_manifest_is_read_once_per_generation_and_writers_see_their_own_writes(service, monkeypatch) -> None:
    service.ingest()
    store = service.store
    reads: list[int] = []
    read = store._read_manifest
    monkeypatch.setattr(store, "_read_manifest", lambda: reads.append(1) or read())
    first = store.doc_states()
    assert store.doc_states() == first and len(reads) <= 1  # the same generation: read at most once
    with store.write_lock():  # a writer reads afresh what it has just written
        store.delete("000_7461797e538ad034")
        assert "000_7461797e538ad034" not in store.doc_states()
        store.mark_changed()
    assert "000_7461797e538ad034" not in store.doc_states()
    other = RagService(service.settings, embedder=service.embedder)  # another process, as far as the store knows
    other.ingest()  # puts the article back and bumps the generation
    assert "000_7461797e538ad034" in store.doc_states()


VICTIM = "002_996cae21006e1810"


def test_interrupted_write_is_redone(service, monkeypatch) -> None:
    """A write that dies after the article's new passages are stored, before its sentences and manifest record
    (the SIGKILL test in test_reliability.py kills real processes): the next ingest finds it unfinished."""
    service.ingest()
    path = service.settings.corpus_dir / f"{VICTIM}.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\nThe harbour master counted 77 gulls.\n", encoding="utf-8")

    def dies(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(service.store.sentences, "add", dies)
    try:
        service.ingest()
    except Exception:  # noqa: BLE001 - the failure itself is not what this test is about
        pass
    monkeypatch.undo()
    assert service.store.last_write()["writing"] == 1
    report = service.ingest()
    assert report.repaired and VICTIM in report.added + report.updated
    assert any("77 gulls" in p.text for p in service.store.passages() if p.doc_id == VICTIM)
    fresh = RagService(service.settings, embedder=service.embedder)
    assert fresh.health()["status"] == "ok" and fresh.doctor() == []
    again = fresh.ingest()
    assert again.passages_embedded == 0 and not again.changed and service.store.last_write()["writing"] == 0


def test_records_lost_outside_any_write_are_reported_and_a_rebuild_restores_them(service) -> None:
    service.ingest()
    victim = next(p for p in service.store.passages() if p.doc_id == VICTIM)
    service.store.collection.delete(ids=[victim.passage_id])  # another program deleted a record
    fresh = RagService(service.settings, embedder=service.embedder)
    health = fresh.health()
    assert health["status"] == "degraded" and "`rag ingest --rebuild` restores them" in health["reason"]
    fresh.rebuild()
    assert victim.passage_id in {p.passage_id for p in fresh.store.passages()}
    assert RagService(service.settings, embedder=service.embedder).health()["status"] == "ok"


def test_explicit_file_ingest_keeps_the_rest(service) -> None:
    service.ingest()
    report = service.ingest([service.settings.corpus_dir / "000_7461797e538ad034.txt"])
    assert report.unchanged == ["000_7461797e538ad034"] and not report.removed
    assert len(service.documents()) == 5


def test_server_sees_another_process_ingest(service, embedder) -> None:
    from rag.service import RagService

    service.ingest()
    assert len(service.documents()) == 5
    other = RagService(service.settings, embedder=embedder)  # e.g. `rag ingest` run beside `rag serve`
    (service.settings.corpus_dir / "zz_new.md").write_text(NEW_ARTICLE, encoding="utf-8")
    other.ingest()
    assert "zz_new" in {d.doc_id for d in service.documents()}
