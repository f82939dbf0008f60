"""Damage, bad input and crashes: the index stays consistent and the user is told what happened.

Real model, real embedded Chroma, real `rag` subprocesses and a real uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from chromadb.api.shared_system_client import SharedSystemClient
from tests.conftest import ROOT, make_settings

from index.article import ArticleError
from rag.service import RagService
from ui.api import create_app
from ui.server import serve_in_thread

DOC_A = "000_7461797e538ad034"
DOC_B = "001_7749179d099e916c"
RAG = [sys.executable, "-m", "rag.cli"]


def run_rag(settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_DATA_DIR": str(settings.data_dir),
           "HF_HUB_OFFLINE": "1"}
    env.pop("RAG_CHROMA_URL", None)
    return subprocess.run([*RAG, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def index_view(svc: RagService) -> tuple:
    """Everything a user can observe of an index: passages with text and offsets, the manifest, and the
    sentence and word vectors answering reads."""
    passages = sorted((p.passage_id, p.text, p.meta["title"]) for p in svc.store.passages())
    states = sorted((s.doc_id, s.doc_hash, s.n_passages, Path(s.path).name) for s in svc.store.doc_states().values())
    vectors = [sorted(c.get(include=[])["ids"]) for c in (svc.store.sentences, svc.store.words)]
    return passages, states, svc.store.collection.count(), vectors


def test_refused_duplicate_upload_changes_nothing(service) -> None:
    """Issue 12.2: uploading X.txt with Y's bytes is refused and X stays as it was, file and index."""
    service.ingest()
    corpus = service.settings.corpus_dir
    before_bytes = (corpus / f"{DOC_A}.txt").read_bytes()
    before = index_view(service)
    with pytest.raises(ArticleError, match=f"duplicate of {DOC_B}"):
        service.add_document(f"{DOC_A}.txt", (corpus / f"{DOC_B}.txt").read_bytes())
    assert (corpus / f"{DOC_A}.txt").read_bytes() == before_bytes
    assert index_view(service) == before
    assert service.ingest().passages_embedded == 0  # and the next ingest finds nothing to redo
    assert not list(corpus.glob(".*.part"))


def test_unusable_files_are_reported_and_the_rest_goes_on(service, tmp_path) -> None:
    """Issue 12.6/12.7: a 250-character name, a directory, a FIFO, a broken symlink and a symlink out of
    the corpus, all named *.txt, and an over-size file: each reported with its reason; the rest indexed."""
    corpus = service.settings.corpus_dir
    long_name = "n" * 246 + ".txt"  # 250 characters: its sidecar name would be too long for the OS
    (corpus / long_name).write_text("# Long name\n\nThe ferry to Quillmouth left at noon on Tuesday.\n")
    (corpus / "folder.txt").mkdir()
    os.mkfifo(corpus / "pipe.txt")
    (corpus / "dangling.txt").symlink_to(corpus / "nowhere.txt")
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("# Secret notes\n\nThe vault code is 4417, kept outside the corpus.\n")
    (corpus / "link.txt").symlink_to(secret)
    (corpus / "huge.txt").write_bytes(b"Big file line.\n" * 2000)
    svc = RagService(service.settings.model_copy(update={"max_file_bytes": 20_000}), embedder=service.embedder)
    report = svc.ingest()
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert "directory" in reasons["folder.txt"]
    assert "FIFO" in reasons["pipe.txt"]
    assert "broken symlink" in reasons["dangling.txt"]
    assert "outside the corpus" in reasons["link.txt"]
    assert "20000-byte limit" in reasons["huge.txt"]
    ids = {d.doc_id for d in svc.documents()}
    assert long_name[:-4] in ids and long_name not in reasons  # indexed: a name too long for a sidecar has none
    assert {DOC_A, DOC_B} <= ids and len(ids) == 6
    assert "4417" not in " ".join(p.text for p in svc.store.passages())
    assert "skipped" in report.summary() and "pipe.txt" in report.summary()


def test_file_left_by_a_killed_upload_is_indexed_at_start(service) -> None:
    """Issue 12.7: a file renamed into the corpus by an upload killed before indexing is reconciled."""
    service.ingest()
    (service.settings.corpus_dir / "late.txt").write_text(
        "# Late arrival\n\nThe harbour crane at Ostwick collapsed on Monday, officials said.\n")
    (service.settings.corpus_dir / ".late2.txt.part").write_text("half a file")  # never indexed
    fresh = RagService(service.settings, embedder=service.embedder)  # a restart
    report = fresh.ensure_ingested()
    assert report is not None and report.added == ["late"] and report.passages_embedded >= 1
    assert fresh.health()["status"] == "ok" and fresh.health()["articles"] == 6


def _vector_segments(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "chroma").iterdir() if p.is_dir()]


def test_lost_vector_segment_is_detected_and_rebuilt(service) -> None:
    """Issue 12.3: with the vector-segment folders deleted, doctor and health name the damage and
    `rag ingest --rebuild` restores an index equal to a clean one. Chroma moves vectors into the segment
    folder every 1,000 records, so the corpus is the seeds plus twelve edited copies (~1,100 passages)."""
    corpus = service.settings.corpus_dir
    for i in range(12):
        for src in sorted(corpus.glob("0*.txt"))[:5]:
            (corpus / f"copy{i}_{src.name}").write_text(f"Edition {i}.\n\n" + src.read_text(encoding="utf-8"))
    assert service.ingest().passages_embedded > 1000
    clean = index_view(service)
    for seg in _vector_segments(service.settings.data_dir):
        shutil.rmtree(seg)
    out = run_rag(service.settings, "doctor")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "vector" in out.stdout and "rag ingest --rebuild" in out.stdout
    assert "Traceback" not in out.stderr
    SharedSystemClient.clear_system_cache()  # as a restarted process: nothing of the old index in memory
    restarted = RagService(service.settings, embedder=service.embedder)
    restarted.ensure_ingested()
    health = restarted.health()
    assert health["status"] == "degraded" and "vector" in health["reason"]

    out = run_rag(service.settings, "ingest", "--rebuild")
    assert out.returncode == 0, out.stderr
    after = RagService(service.settings, embedder=service.embedder)
    assert index_view(after) == clean
    assert after.doctor() == []
    assert run_rag(service.settings, "doctor").returncode == 0


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_damaged_sqlite_gives_one_line_errors_and_serve_reports_degraded(service, damage) -> None:
    """Issue 12.3: a truncated or garbled chroma.sqlite3: every command answers one clear line, the
    server starts and reports `degraded` (other routes 503), and `rag ingest --rebuild` repairs it."""
    service.ingest()
    clean = index_view(service)
    db = service.settings.data_dir / "chroma" / "chroma.sqlite3"
    if damage == "truncate":
        os.truncate(db, 40_000)
    else:
        with open(db, "r+b") as fh:
            fh.write(b"garbage!" * 64)
    SharedSystemClient.clear_system_cache()  # this process too must reopen the file
    for args in (["docs"], ["ask", "Who voted against?"], ["ingest"]):
        out = run_rag(service.settings, *args)
        lines = out.stderr.strip().splitlines()
        assert out.returncode != 0 and "Traceback" not in out.stderr, (args, out.stderr)
        assert lines[-1].startswith("error: ") and "damaged" in lines[-1] and "--rebuild" in lines[-1], lines
    out = run_rag(service.settings, "doctor")
    assert out.returncode == 1 and "damaged" in out.stdout and "Traceback" not in out.stderr, out

    svc = RagService(service.settings, embedder=service.embedder)
    with serve_in_thread(create_app(svc.settings, ingest_if_empty=True, service=svc)) as url:
        health = httpx.get(f"{url}/api/health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert "damaged" in health.json()["reason"]
        docs = httpx.get(f"{url}/api/documents", timeout=30)
        assert docs.status_code == 503 and "damaged" in docs.json()["detail"]

    out = run_rag(service.settings, "ingest", "--rebuild")
    assert out.returncode == 0, out.stderr
    assert list(service.settings.data_dir.glob("chroma.damaged-*"))  # kept aside, not deleted
    SharedSystemClient.clear_system_cache()
    assert index_view(RagService(service.settings, embedder=service.embedder)) == clean


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import index.ingest, index.store
    from rag.service import RagService
    from rag.settings import Settings

    index.ingest.BATCH_PASSAGES = 16  # several batches: several write points to die at
    calls, die_at = [0], int(sys.argv[1])
    real = index.store.Store.write

    def write(self, batch, *words):
        calls[0] += 1
        if calls[0] == die_at:  # die inside the store's own write, between its round trips
            col = self.collection
            real_add = col.add
            col.add = lambda *a, **k: (real_add(*a, **k), os.kill(os.getpid(), signal.SIGKILL))
        return real(self, batch, *words)

    index.store.Store.write = write
    RagService(Settings().resolved()).ingest()
""")


def test_sigkill_during_ingest_then_rerun_equals_a_clean_index(tmp_path, embedder) -> None:
    """Issue 12: `rag ingest` killed (SIGKILL) at several points, including inside the store's writes,
    then re-run, always ends in an index identical to a clean ingest."""
    clean = RagService(make_settings(tmp_path / "clean"), embedder=embedder)
    clean.ingest()
    expected = index_view(clean)
    victim = make_settings(tmp_path / "victim")
    env = {**os.environ, "RAG_CORPUS_DIR": str(victim.corpus_dir), "RAG_DATA_DIR": str(victim.data_dir),
           "HF_HUB_OFFLINE": "1"}
    env.pop("RAG_CHROMA_URL", None)
    killed = []
    for die_at in (1, 2, 3):  # each run resumes the partial index the previous kill left
        proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(die_at)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
        killed.append(proc.returncode == -signal.SIGKILL)
    assert killed[:2] == [True, True]
    report = RagService(victim, embedder=embedder).ingest()
    resumed = RagService(victim, embedder=embedder)
    assert index_view(resumed) == expected, report.summary()
    assert resumed.doctor() == [] and resumed.health()["status"] == "ok"
    assert RagService(victim, embedder=embedder).ingest().passages_embedded == 0
