"""The ablation script's levers still exist (each patch targets a real attribute)."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from bench.ablation import VARIANTS


@pytest.mark.parametrize("name", list(VARIANTS))
def test_ablation_lever_exists(name: str) -> None:
    with ExitStack() as stack:
        for patch in VARIANTS[name]:
            stack.enter_context(patch)  # mock.patch raises AttributeError for a lever that is gone


# `rag bench --n 500`: every figure is produced (values are the benchmark's business, not the test's).
# The index is built with the CHEAP HASH EMBEDDER (--real-up-to 0): 9,000 real-model passages take minutes on
# the 2-core CI machine. Questions, serving and the ingest projection still use the real model, and the
# question counts are cut down for time.
BENCH_FIGURES = ("ingest CPU (", "ingest CPU, projected with the real model", "ingest throughput, articles/s",
                 "re-ingest unchanged (embedded 0)", "first answer after ingest", "ask p50", "ask p95",
                 "serve: start to first answer", "/api/health median", "/api/health under",
                 "serving RSS growth", "serving RSS at N")


def test_rag_bench_n500_produces_every_figure(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "rag.cli", "bench", "--n", "500", "--real-up-to", "0", "--questions",
                          "6", "--rss-questions", "20", "--json", "--work", str(tmp_path / "bench")],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["machine"]["device"] and result["machine"]["cores"] and result["machine"]["memory_mb"]
    figures = result["figures"]
    for name in BENCH_FIGURES:
        found = [f for f in figures if f["figure"].startswith(name) and f["n"] == 500]
        assert found, f"missing figure {name!r}"
        assert all(f["product"] is not None for f in found), found
        assert all(f["baseline"] is not None and f["ratio"] is not None for f in found if f["target"] and
                   not f["figure"].startswith(("/api/health", "serving RSS"))), found
        assert all(f["holds"] is not None for f in found if f["target"] and "N=3000" not in f["target"]
                   and not f["figure"].startswith("/api/health median")), found
