"""Bounded load on loopback: a burst of concurrent asks, then a sustained run; prints p50/p95 and errors.

Real model, real embedded Chroma, real uvicorn on 127.0.0.1. Sizes come from the environment:
RAG_LOAD_BURST (default 200 concurrent asks) and RAG_LOAD_SECONDS (sustained run, default 10; the issue's
60 s: `RAG_LOAD_SECONDS=60 pytest tests/test_load.py -s`). No timing is asserted, only that nothing fails.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ui.api import create_app
from ui.server import serve_in_thread

QUESTIONS = ["Which country voted against the UN resolution?", "How many countries abstained?",
             "Who flew in to Moscow?", "What did the junta leader discuss?", "When was the resolution approved?"]


def _ask(client: httpx.Client, i: int) -> tuple[float, bool]:
    t0 = time.perf_counter()
    try:
        ok = client.post("/api/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]}).status_code == 200
    except httpx.HTTPError:
        ok = False
    return time.perf_counter() - t0, ok


def _report(name: str, results: list[tuple[float, bool]], wall: float) -> int:
    times = sorted(t for t, _ in results)
    errors = sum(1 for _, ok in results if not ok)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"\n{name}: {len(results)} asks in {wall:.1f}s, p50 {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, errors {errors}")
    return errors


@pytest.fixture(scope="module")
def url(seeded):
    with serve_in_thread(create_app(seeded.settings, service=seeded)) as base:
        yield base


def test_burst_of_concurrent_asks(url) -> None:
    n = int(os.environ.get("RAG_LOAD_BURST", "200"))
    with httpx.Client(base_url=url, timeout=600, limits=httpx.Limits(max_connections=n)) as client, \
            ThreadPoolExecutor(n) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(lambda i: _ask(client, i), range(n)))
    assert _report(f"burst of {n} concurrent", results, time.perf_counter() - t0) == 0


def test_sustained_asks(url) -> None:
    seconds, workers = float(os.environ.get("RAG_LOAD_SECONDS", "10")), 8
    deadline = time.perf_counter() + seconds

    def worker(w: int) -> list[tuple[float, bool]]:
        out, i = [], w
        with httpx.Client(base_url=url, timeout=600) as client:
            while time.perf_counter() < deadline:
                out.append(_ask(client, i))
                i += workers
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = [r for rs in pool.map(worker, range(workers)) for r in rs]
    assert results and _report(f"sustained {seconds:.0f}s x {workers} clients", results,
                               time.perf_counter() - t0) == 0
