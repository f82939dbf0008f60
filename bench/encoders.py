"""Embedding backends side by side, in one run: throughput on the same passages, and answer quality.

    rag bench --encoders [--json]

Throughput: the passages of the seeds and the NewsQA articles (read in place), sorted by length as ingest
sorts them, encoded by each backend with the same batch size; CPU and wall seconds, ratio to torch.
Quality: ``rag eval`` on tests/data/dev.jsonl (the seeds) and, when present, ../shared/newsqa/dev.jsonl
(its corpus), each backend indexing into its own temporary data folder.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.corpus import NEWSQA, ROOT, SEEDS, source_files
from index.embedding import BACKENDS, load_embedder
from rag.settings import Settings

QUALITY = ("hit@1", "hit@5", "mrr", "answer_accuracy", "citation_accuracy", "abstention_recall",
           "false_abstentions")


def passages(files: list[Path], chunk_chars: int) -> list[str]:
    from index.article import parse
    from index.chunking import chunk, make_splitter

    splitter = make_splitter(chunk_chars)
    return sorted((p.text for f in files for p in chunk(parse(f), splitter=splitter)), key=len)


def throughput(texts: list[str], backends: tuple[str, ...], cache_dir: Path, batch: int) -> list[dict]:
    rows = []
    for backend in backends:
        embedder = load_embedder(Settings().embed_model, batch, None, backend, cache_dir)
        embedder.get_text_embedding_batch(texts[:batch])  # warm: first-call allocations
        cpu, wall = time.process_time(), time.perf_counter()
        embedder.get_text_embedding_batch(texts)
        rows.append({"backend": backend, "passages": len(texts), "cpu_s": round(time.process_time() - cpu, 2),
                     "wall_s": round(time.perf_counter() - wall, 2)})
    base = rows[0]
    for r in rows:
        r["passages_per_s"] = round(r["passages"] / r["wall_s"], 1)
        r["speedup_vs_torch"] = round(base["wall_s"] / r["wall_s"], 2)
    return rows


def quality(backend: str, testset: Path, corpus: Path, work: Path) -> dict:
    from rag.evaluate import evaluate, load_testset
    from rag.service import RagService

    settings = Settings(corpus_dir=corpus, data_dir=work / f"{backend}-{corpus.name}",
                        embed_backend=backend).resolved()
    svc = RagService(settings)
    svc.ensure_ingested()
    texts = {d.doc_id: svc.document(d.doc_id).text for d in svc.documents()}
    result = evaluate(load_testset(testset), svc.ask, texts)
    return {k: result[k] for k in (*QUALITY, "n")}


def run(backends: tuple[str, ...] = BACKENDS, judged: tuple[str, ...] = BACKENDS, batch: int = 32) -> dict:
    """Throughput of ``backends``; dev-set quality of ``judged``."""
    sets = [(ROOT / "tests" / "data" / "dev.jsonl", SEEDS)]
    if (NEWSQA / "dev.jsonl").is_file():
        sets.append((NEWSQA / "dev.jsonl", NEWSQA / "corpus"))
    with tempfile.TemporaryDirectory(prefix="rag-bench-enc-") as tmp:
        work = Path(tmp)
        speed = throughput(passages(source_files(), Settings().chunk_chars), backends, work, batch)
        scores = {f"{testset.parent.name}/{testset.name}": {b: quality(b, testset, corpus, work) for b in judged}
                  for testset, corpus in sets}
    return {"throughput": speed, "quality": scores}


def format_report(result: dict) -> str:
    lines = ["| backend | passages | CPU s | wall s | passages/s | speed vs torch |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['backend']} | {r['passages']} | {r['cpu_s']} | {r['wall_s']} | {r['passages_per_s']} | "
              f"{r['speedup_vs_torch']}x |" for r in result["throughput"]]
    for testset, by_backend in result["quality"].items():
        backends = list(by_backend)
        lines += ["", f"Quality on {testset}", "| metric | " + " | ".join(backends) + " |",
                  "|---" * (len(backends) + 1) + "|"]
        lines += [f"| {k} | " + " | ".join(str(by_backend[b][k]) for b in backends) + " |" for k in (*QUALITY, "n")]
    return "\n".join(lines)
