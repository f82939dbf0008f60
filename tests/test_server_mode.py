"""Server mode: a real `chroma run` server shared by real app processes (RAG_CHROMA_URL).

`make test` runs this file against a server it starts (`python -m tests.chroma_server`); run alone, it
starts its own. The crash and outage tests always own a server, since they kill it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from tests.chroma_server import ChromaServer
from tests.conftest import ROOT, SEEDS
from tests.processes import free_port, wait_healthy
from tests.test_reliability import index_view

import index.ingest
from index.store import Store, StoreError
from rag.service import RagService
from rag.settings import Settings
from ui.api import create_app
from ui.server import serve_in_thread

ARTICLE = ("# Quarry flood in Brindlemoor\n\nBy Test Wire\n\nMarch 3, 2024\n\n"
           "Floodwater filled the Brindlemoor slate quarry on Thursday after the river Ash burst its banks.\n"
           "Rescuers said 31 quarry workers were lifted out by boat.\n")
QUESTION = "How many quarry workers were lifted out by boat in Brindlemoor?"


@pytest.fixture(scope="module")
def shared_url(tmp_path_factory):
    if os.environ.get("RAG_CHROMA_URL"):
        yield os.environ["RAG_CHROMA_URL"]
        return
    server = ChromaServer(tmp_path_factory.mktemp("chroma")).start()
    yield server.url
    server.kill()


def server_settings(base: Path, url: str, collection: str) -> Settings:
    corpus = base / "corpus"
    if not corpus.exists():
        shutil.copytree(SEEDS, corpus)
    return Settings(corpus_dir=corpus, data_dir=base / "data", chroma_url=url, collection=collection).resolved()


def start_app(settings: Settings) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_DATA_DIR": str(settings.data_dir),
           "RAG_CHROMA_URL": settings.chroma_url, "RAG_COLLECTION": settings.collection, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_up(proc: subprocess.Popen, url: str) -> None:
    wait_healthy(proc, url, 300, proc.stderr.read)


def test_two_app_processes_see_each_others_adds_and_deletes(tmp_path, shared_url) -> None:
    """Issue 12.4: two `rag serve` processes, different RAG_DATA_DIR, one Chroma server: an article
    uploaded through one is listed and answered by the other on its next request; deleted through the
    other, it is neither listed nor cited by the first."""
    collection = f"two-{uuid.uuid4().hex[:8]}"
    a_settings = server_settings(tmp_path / "a", shared_url, collection)
    b_settings = server_settings(tmp_path / "b", shared_url, collection)
    a, a_url = start_app(a_settings)
    try:
        wait_up(a, a_url)  # A ingests the corpus into the shared store first
        b, b_url = start_app(b_settings)
        try:
            wait_up(b, b_url)
            assert httpx.get(f"{b_url}/api/health").json()["articles"] == 5
            up = httpx.post(f"{a_url}/api/documents", files={"file": ("brindlemoor.txt", ARTICLE.encode())},
                            timeout=120)
            assert up.status_code == 200, up.text
            assert "brindlemoor" in {d["doc_id"] for d in httpx.get(f"{b_url}/api/documents").json()}
            answer = httpx.post(f"{b_url}/api/ask", json={"question": QUESTION}, timeout=120).json()
            assert "31" in answer["answer"] and answer["citations"][0]["doc_id"] == "brindlemoor"

            assert httpx.delete(f"{b_url}/api/documents/brindlemoor", timeout=60).status_code == 200
            assert "brindlemoor" not in {d["doc_id"] for d in httpx.get(f"{a_url}/api/documents").json()}
            answer = httpx.post(f"{a_url}/api/ask", json={"question": QUESTION}, timeout=120).json()
            assert all(c["doc_id"] != "brindlemoor" for c in answer["citations"])
            assert "31 quarry" not in answer["answer"]
            assert httpx.get(f"{a_url}/api/health").json()["articles"] == 5
        finally:
            b.terminate()
            b.wait(30)
    finally:
        a.terminate()
        a.wait(30)


def test_server_killed_mid_ingest_then_rerun_equals_a_clean_index(tmp_path, embedder, monkeypatch) -> None:
    """Issue 12: the Chroma server SIGKILLed in the middle of an ingest's writes; the ingest fails with a
    StoreError; with the server back, re-running it ends equal to a clean index."""
    server = ChromaServer(tmp_path / "chroma").start()
    try:
        clean = RagService(server_settings(tmp_path / "clean", server.url, "clean"), embedder=embedder)
        clean.ingest()
        expected = index_view(clean)

        victim = RagService(server_settings(tmp_path / "victim", server.url, "victim"), embedder=embedder)
        monkeypatch.setattr(index.ingest, "BATCH_PASSAGES", 16)
        real_write, calls = Store.write, []

        def write(self, batch, *words):
            calls.append(1)
            if len(calls) == 3:  # after this batch's passages are added, before its sentences and manifest records
                real_add = self.collection.add
                self.collection.add = lambda *a, **k: (real_add(*a, **k), server.kill())
            return real_write(self, batch, *words)

        monkeypatch.setattr(Store, "write", write)
        with pytest.raises(StoreError, match="unreachable"):
            victim.ingest()
        monkeypatch.setattr(Store, "write", real_write)
        del victim.store.collection.add
        server.start()
        report = victim.ingest()
        assert report.repaired and report.passages_embedded
        assert index_view(victim) == expected
        assert victim.doctor() == [] and victim.health()["status"] == "ok"
    finally:
        server.kill()


def test_server_down_gives_503_and_one_line_cli_errors_then_recovers(tmp_path, embedder) -> None:
    """Issue 12.5: with the Chroma server down every route answers 503 with a JSON reason and the CLI
    one line; when it is back, answers resume without a restart."""
    server = ChromaServer(tmp_path / "chroma").start()
    try:
        svc = RagService(server_settings(tmp_path / "app", server.url, "down"), embedder=embedder)
        svc.ingest()
        with serve_in_thread(create_app(svc.settings, service=svc)) as url:
            assert httpx.post(f"{url}/api/ask", json={"question": "Who voted against?"}, timeout=120
                              ).status_code == 200
            server.kill()
            for method, path, body in (("POST", "/api/ask", {"question": "Who voted against?"}),
                                       ("GET", "/api/documents", None), ("GET", "/api/health", None),
                                       ("GET", "/api/documents/000_7461797e538ad034", None),
                                       ("DELETE", "/api/documents/000_7461797e538ad034", None)):
                time.sleep(1.1)  # past health's one-second sharing window
                r = httpx.request(method, f"{url}{path}", json=body, timeout=60)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert "unreachable" in r.json()["detail"]
            env = {**os.environ, "RAG_CORPUS_DIR": str(svc.settings.corpus_dir),
                   "RAG_DATA_DIR": str(svc.settings.data_dir), "RAG_CHROMA_URL": server.url,
                   "RAG_COLLECTION": "down"}
            out = subprocess.run([sys.executable, "-m", "rag.cli", "docs"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 3 and out.stderr.strip().count("\n") == 0, out.stderr
            assert out.stderr.startswith("error: Chroma server at") and "Traceback" not in out.stderr

            server.start()
            r = httpx.post(f"{url}/api/ask", json={"question": "Which country voted against the UN resolution?"},
                           timeout=120)
            assert r.status_code == 200 and "Belarus" in r.json()["answer"]
            assert httpx.get(f"{url}/api/health").json()["status"] == "ok"
    finally:
        server.kill()
