"""`rag bench`: the product at N articles against floors and stock LlamaIndex, measured in the same run.

For each N (ascending) it writes the synthetic corpus (bench/corpus.py), then measures, each figure beside
its own baseline from the same run:

- ingest CPU vs the floor: raw encoding of the same passages by the same model and batch size;
- ingest throughput vs stock LlamaIndex (VectorStoreIndex over Chroma, SentenceSplitter defaults, the
  same model on torch), for the run's backend and, at real-model sizes, for ONNX as well;
- re-ingest of the unchanged corpus (must embed 0) vs hashing every file plus reading the manifest;
- ask p50/p95 vs the floor: the query embedding plus a bare Chroma top-10 on the same collection,
  timed in pairs over the same questions;
- `rag serve` start to first answer vs a fresh process that loads the model and runs one vector query;
- /api/health alone and under concurrent probes, serving RSS over many distinct questions, RSS at N.

Above ``--real-up-to`` articles the index is built with a cheap hash embedder (bench/embedders.py) to
time the pipeline around the model; serving and asking still use the real model for the question, so ask
and start-up figures stay real. Ingest ratios there are projected (marked so): the real model's encoding CPU
per token, measured at the real-model size of the same run, charged for every text the product embedded
(passages, their sentences, new words), plus the pipeline time measured around the hash embedder.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.corpus import ROOT, distinct_questions, questions, write_corpus
from bench.embedders import hash_embedding
from index.embedding import model_inputs, sentence_inputs

DEFAULT_N = (500, 3000, 10000)
PROBES = 64  # concurrent /api/health requests
PROBE_TIMEOUT = 2.0  # seconds, like an orchestrator's liveness probe


@dataclass
class Figure:
    n: int
    figure: str
    product: float | None
    baseline: float | None = None
    unit: str = "s"
    ratio: float | None = None
    target: str = ""
    holds: bool | None = None
    note: str = ""


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    """(CPU seconds of this process, all threads; wall seconds) since ``start``."""
    return time.process_time() - start[0], time.perf_counter() - start[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine(device: str) -> dict:
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0) if Path("/proc/meminfo").exists() else 0
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    import onnxruntime
    import torch

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "device": device,
            "python": platform.python_version(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


def _device(embedder: object, requested: str | None) -> str:
    model = getattr(embedder, "_model", None)
    if model is not None and hasattr(model, "device"):
        return str(model.device)
    return requested or "cpu"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


# Stock chunks the model reads whole: SentenceSplitter counts tiktoken tokens, and chunks of 200 came to a median of
# 182 of the model's word pieces (at most 213) on the bench and NewsQA articles, inside its 256-piece window; its
# default 1,024-token chunks came to a median of 742, of which the model reads 256.
STOCK_WHOLE_CHUNK = 200


class Bench:
    def __init__(self, args, work: Path) -> None:
        from index.embedding import backend_for, load_embedder
        from rag.settings import Settings

        self.args, self.work = args, work
        base = Settings()
        self.backend = backend_for(args.backend or base.embed_backend, base.device)  # what the product runs on
        self.model, self.batch, self.device_req = base.embed_model, base.embed_batch_size, base.device
        self.onnx_row = self.backend == "torch" and not args.no_onnx_ingest  # an extra ONNX ingest at real-model N
        self.onnx_runs = self.onnx_row and backend_for("onnx", self.device_req) == "onnx"  # onnxruntime can run there
        self.cheap = hash_embedding(self.batch, self.model)
        self.all_cheap = args.embedder == "cheap"
        self.real = None if self.all_cheap else load_embedder(self.model, self.batch, self.device_req, self.backend,
                                                              work)
        self.device = "n/a (cheap embedder only)" if self.real is None else _device(self.real, self.device_req)
        self.real_cpu_per_token: float | None = None  # calibration from the real-model size
        self.ask_ratio: dict[int, float] = {}
        self.figures: list[Figure] = []

    # --- helpers -----------------------------------------------------------------

    def add(self, **kw) -> Figure:
        f = Figure(**kw)
        if f.ratio is None and f.product is not None and f.baseline:
            f.ratio = round(f.product / f.baseline, 2)
        self.figures.append(f)
        return f

    def raw_encode(self, embedder) -> Callable[[list[str]], object]:
        """The floor: the model's own batch encode, no llama-index around it."""
        model = getattr(embedder, "_model", None)
        if model is not None and hasattr(model, "encode"):  # torch: SentenceTransformer.encode
            return lambda texts: model.encode(texts, batch_size=self.batch, normalize_embeddings=True)
        return embedder.encode  # ONNX and hash embedders: their raw batch encode

    def settings(self, n: int, name: str = "data", backend: str | None = None):
        from rag.settings import Settings

        root = self.work / f"n{n}"
        return Settings(corpus_dir=root / "corpus", data_dir=root / name,
                        embed_backend=backend or self.backend).resolved()

    # --- one N ---------------------------------------------------------------------

    def run(self, n: int) -> None:
        from rag.service import RagService

        real = self.real is not None and n <= self.args.real_up_to
        ingest_embedder = self.real if real else self.cheap
        settings = self.settings(n)
        paths = write_corpus(settings.corpus_dir, n)
        texts = self._passages(paths, settings.chunk_chars)
        label = "real model" if real else "cheap hash embedder"
        svc = RagService(settings, embedder=ingest_embedder)
        self._ingest(n, svc, ingest_embedder, texts, label, real)
        self._stock(n, paths, ingest_embedder, label, svc)
        if real and self.onnx_row:
            if self.onnx_runs:
                self._onnx_ingest(n, paths)
            else:
                self.add(n=n, figure="ingest throughput with ONNX", product=None,
                         note=f"skipped: this onnxruntime cannot run on {self.device_req}")
        self._reingest(n, svc, paths)
        if self.real is not None:
            svc._embedder = self.real  # questions are embedded by the real model (the index may be hash-built)
        self._ask(n, svc)
        del svc
        self._serve(n, settings)

    def _passages(self, paths: list[Path], chunk_chars: int) -> list[str]:
        from index.article import parse
        from index.chunking import chunk, make_splitter

        splitter = make_splitter(chunk_chars)
        return [p.text for path in paths for p in chunk(parse(path), splitter=splitter)]

    def _tokens(self, texts: list[str]) -> int:
        """Tokens the real model reads for ``texts``, its special tokens and truncation included."""
        model = getattr(self.real, "_model", None)
        if model is not None and hasattr(model, "tokenizer"):  # torch
            return sum(map(len, model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]))
        return sum(sum(e.attention_mask) for e in self.real.tokenizer.encode_batch(texts))  # ONNX (padded batches)

    def _cpu_per_token(self, encode: Callable[[list[str]], object], texts: list[str]) -> float:
        """CPU seconds per token of ``encode`` on a sample of ``texts`` (after a warming call)."""
        sample = texts[::max(1, len(texts) // 512)]
        encode(sample[:self.batch])
        start = _clock()
        encode(sample)
        return _since(start)[0] / self._tokens(sample)

    def _embedded(self, svc) -> tuple[list[str], list[str]]:
        """Record every text the service embeds while ingesting (passages, sentences, words): those the model
        reads, and the sentences its int8 export reads (``RAG_SENTENCE_VECTORS=int8`` where the real model has
        one; with the cheap embedder, what the real model would give it)."""
        seen: list[str] = []
        quantised: list[str] = []
        passages = svc.embed_passages
        mode = svc.settings.sentence_vectors
        if mode == "int8" and not hasattr(self.real, "encode_int8"):
            mode = "alone"

        def record(texts: list[str], spans: list[list[tuple[int, int]]]):
            if mode == "int8":
                seen.extend(model_inputs(texts, []))
                quantised.extend(sentence_inputs(texts, spans))
            else:
                seen.extend(model_inputs(texts, spans) if mode == "alone" else texts)
            return passages(texts, spans)

        svc.embed_passages = record
        return seen, quantised

    def _ingest(self, n: int, svc, embedder, texts: list[str], label: str, real: bool) -> None:
        encode = self.raw_encode(embedder)
        encode(texts[:self.batch])  # warm: first-call allocations count for neither side
        start = _clock()
        encode(texts)
        floor_cpu, floor_wall = _since(start)
        embedded, quantised = self._embedded(svc)
        start = _clock()
        report = svc.ingest()
        cpu, wall = _since(start)
        assert report.passages_embedded == len(texts), (report.passages_embedded, len(texts))
        self.ingest_wall = wall
        model_texts = (f"the model read {len(embedded) + len(quantised)} texts: passages, sentences "
                       f"({svc.settings.sentence_vectors}), words" +
                       (f"; {len(quantised)} of them sentences, on its int8 export" if quantised else ""))
        if real:
            self.real_cpu_per_token = floor_cpu / self._tokens(texts)
            self.add(n=n, figure=f"ingest CPU ({len(texts)} passages, {label}, {self.backend})", product=round(cpu, 2),
                     baseline=round(floor_cpu, 2), target="<= 1.10x floor (raw encode)",
                     note=f"wall {wall:.1f}s vs floor {floor_wall:.1f}s; {model_texts}")
            self.figures[-1].holds = self.figures[-1].ratio <= 1.10
            return
        start = _clock()
        encode(embedded + quantised)  # the cheap embedder's share of the product's CPU: what the projection replaces
        overhead = cpu - _since(start)[0]
        if self.real_cpu_per_token is None and self.real is not None:  # no real-model N in this run
            self.real_cpu_per_token = self._cpu_per_token(self.raw_encode(self.real), texts)
        self.add(n=n, figure=f"ingest CPU ({len(texts)} passages, {label})", product=round(cpu, 2),
                 baseline=round(floor_cpu, 2), note=f"pipeline overhead {overhead / n * 1000:.1f} ms/article (beyond the cheap embedder's own CPU)")
        if self.real_cpu_per_token:
            floor = self.real_cpu_per_token * self._tokens(texts)
            product = overhead + self.real_cpu_per_token * self._tokens(embedded)
            if quantised:
                product += self._cpu_per_token(self.real.encode_int8, quantised) * self._tokens(quantised)
            ratio = round(product / floor, 2)
            self.add(n=n, figure="ingest CPU, projected with the real model", product=round(product, 1),
                     baseline=round(floor, 1), ratio=ratio, target="<= 1.10x floor (raw encode)", holds=ratio <= 1.10,
                     note="projected: pipeline overhead measured here + real-model CPU per token (real-model N of "
                     f"this run, else a sample of these passages) for what the product embedded; {model_texts}")

    def _stock_index(self, paths: list[Path], embedder, where: Path, **splitter) -> tuple[float, float, int]:
        """Stock LlamaIndex over ``paths``: CPU and wall seconds, and the chunks it embedded. ``splitter``:
        SentenceSplitter arguments (its defaults when none)."""
        import chromadb
        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.vector_stores.chroma import ChromaVectorStore

        start = _clock()
        docs = [Document(text=p.read_text(encoding="utf-8"), id_=p.stem) for p in paths]
        collection = chromadb.PersistentClient(path=str(where)).get_or_create_collection("stock")
        storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        VectorStoreIndex.from_documents(docs, storage_context=storage, embed_model=embedder,
                                        transformations=[SentenceSplitter(**splitter)])
        cpu, wall = _since(start)
        return cpu, wall, collection.count()

    def _stock(self, n: int, paths: list[Path], embedder, label: str, svc) -> None:
        if embedder is self.real and self.backend != "torch":  # stock LlamaIndex runs the model on torch
            from index.embedding import load_embedder

            embedder = load_embedder(self.model, self.batch, self.device_req, "torch")
        cpu, wall, chunks = self._stock_index(paths, embedder, self.work / f"n{n}" / "stock")
        self.stock_wall = wall
        passages = svc.store.counts()["passages"]
        self.add(n=n, figure=f"ingest throughput, articles/s ({label}, {self.backend}) vs stock LlamaIndex",
                 product=round(n / self.ingest_wall, 1), baseline=round(n / wall, 1), unit="articles/s",
                 target=">= 2x stock (with ONNX)" if self.backend != "torch" and label == "real model" else "",
                 note=f"stock CPU {cpu:.1f}s, wall {wall:.1f}s; stock embeds {chunks} chunks "
                 f"(1,024 tokens, the model reads 256), the product {passages} passages")
        if self.backend != "torch" and label == "real model":
            self.figures[-1].holds = self.figures[-1].ratio >= 2.0
        # The same stock pipeline with chunks the model reads whole (its window is 256 word pieces), so that
        # both index every sentence: the default stock chunk leaves about two-thirds of each article unread.
        cpu, wall, chunks = self._stock_index(paths, embedder, self.work / f"n{n}" / "stock-whole",
                                              chunk_size=STOCK_WHOLE_CHUNK, chunk_overlap=20)
        self.add(n=n, figure=f"ingest throughput, articles/s ({label}, {self.backend}) vs stock LlamaIndex, "
                 f"chunks the model reads whole", product=round(n / self.ingest_wall, 1), baseline=round(n / wall, 1),
                 unit="articles/s", note=f"stock SentenceSplitter(chunk_size={STOCK_WHOLE_CHUNK}, chunk_overlap=20): "
                 f"CPU {cpu:.1f}s, wall {wall:.1f}s, {chunks} chunks; the product {passages} passages")

    def _onnx_ingest(self, n: int, paths: list[Path]) -> None:
        from index.embedding import load_embedder
        from rag.service import RagService

        onnx = load_embedder(self.model, self.batch, self.device_req, "onnx", self.work)
        svc = RagService(self.settings(n, "data-onnx", "onnx"), embedder=onnx)
        start = _clock()
        svc.ingest()
        cpu, wall = _since(start)
        self.add(n=n, figure="ingest throughput, articles/s (real model, ONNX) vs stock LlamaIndex (torch)",
                 product=round(n / wall, 1), baseline=round(n / self.stock_wall, 1), unit="articles/s",
                 target=">= 2x stock", note=f"ONNX ingest CPU {cpu:.1f}s, wall {wall:.1f}s; torch ingest wall "
                 f"{self.ingest_wall:.1f}s")
        self.figures[-1].holds = self.figures[-1].ratio >= 2.0

    def _reingest(self, n: int, svc, paths: list[Path]) -> None:
        from index.article import file_hash

        def opened():  # a service that has not read the manifest yet, as `rag ingest` starts; opening is not timed
            service = type(svc)(svc.settings, embedder=svc._embedder)
            _ = service.store
            return service

        def floor() -> tuple[float, float]:
            store = opened().store
            start = _clock()
            for p in paths:
                file_hash(p, p.read_bytes())
            store.doc_states()
            return _since(start)

        def product() -> tuple[float, float, int]:
            fresh = opened()
            start = _clock()
            report = fresh.ingest()
            return *_since(start), report.passages_embedded

        # `rag ingest` runs in a process of its own; this one holds the whole in-memory index, millions of
        # objects that a garbage collection during either timed run would scan. Frozen, they are out of its way.
        gc.collect()
        gc.freeze()
        try:
            floor()  # untimed: the files and the store's pages are as warm for both as for whichever runs second
            runs = [(product(), floor()) for _ in range(3)]
        finally:
            gc.unfreeze()
        ratios = [r[0][1] / r[1][1] for r in runs]
        wall, floor_wall = statistics.median(r[0][1] for r in runs), statistics.median(r[1][1] for r in runs)
        cpu, floor_cpu = statistics.median(r[0][0] for r in runs), statistics.median(r[1][0] for r in runs)
        embedded = max(r[0][2] for r in runs)
        self.add(n=n, figure=f"re-ingest unchanged (embedded {embedded})", product=round(wall, 3),
                 baseline=round(floor_wall, 3), target="<= 1.5x (hash files + read manifest), embeds 0",
                 note=f"medians of 3 alternating runs (each in a service opened anew); CPU {cpu:.2f}s vs {floor_cpu:.2f}s; "
                      f"run ratios {', '.join(f'{r:.2f}' for r in ratios)}")
        self.figures[-1].holds = embedded == 0 and self.figures[-1].ratio <= 1.5

    def _ask(self, n: int, svc) -> None:
        embedder = svc._embedder
        encode = self.raw_encode(embedder)
        collection = svc.store.collection
        asked = questions(self.args.questions)
        start = _clock()
        svc.ask(asked[0])  # the ingest above built (and saved) the in-memory index: it changed every article
        self.add(n=n, figure="first answer after ingest", product=round(_since(start)[1], 2),
                 note="the ingest built and saved the in-memory index (rag/lexical_cache.py)")
        product, floor, pairs = [], [], []
        for i, q in enumerate(asked[1:] or asked):
            def bare() -> float:
                t = time.perf_counter()
                collection.query(query_embeddings=[list(map(float, encode([q])[0]))], n_results=10, include=[])
                return time.perf_counter() - t

            def ours() -> float:
                t = time.perf_counter()
                svc.ask(q)
                return time.perf_counter() - t

            a, b = (ours(), bare()) if i % 2 else tuple(reversed((bare(), ours())))
            product.append(a)
            floor.append(b)
            pairs.append(a / b)
        p50 = self.add(n=n, figure=f"ask p50 ({len(product)} distinct questions)",
                       product=round(_pct(product, .5) * 1000, 1),
                       baseline=round(_pct(floor, .5) * 1000, 1), unit="ms", target="<= 3x floor at N=3000",
                       note=f"median of pair ratios {statistics.median(pairs):.1f}x")
        p50.holds = p50.ratio <= 3.0
        self.ask_ratio[n] = p50.ratio
        self.add(n=n, figure="ask p95", product=round(_pct(product, .95) * 1000, 1),
                 baseline=round(_pct(floor, .95) * 1000, 1), unit="ms")

    def _serve(self, n: int, settings) -> None:
        if self.real is None:
            self.add(n=n, figure="serve figures", product=None, note="skipped: --embedder cheap has no model to serve")
            return
        env = {**os.environ, "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_DATA_DIR": str(settings.data_dir),
               "RAG_EMBED_BACKEND": self.backend,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        if (self.work / "onnx").is_dir():  # an export made for this run (read-only model folder): not timed
            shutil.copytree(self.work / "onnx", settings.data_dir / "onnx", dirs_exist_ok=True)
        floor = self._fresh_query(env, settings)
        port = _free_port()
        log = open(self.work / f"serve-{n}.log", "w")
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
        base = f"http://127.0.0.1:{port}"
        try:
            first = questions(1)[0]
            self._first_answer(proc, base, first)
            took = time.perf_counter() - start
            f = self.add(n=n, figure="serve: start to first answer", product=round(took, 2), baseline=round(floor, 2),
                         target="<= 1.5x fresh process (load model + one vector query)")
            f.holds = f.ratio <= 1.5
            status = self._chat_ready(proc, base)  # its one-time build (gradio) would count as load and growth below
            if status != 200:
                self.add(n=n, figure="chat at /", product=status, unit="HTTP status",
                         note=f"the chat did not build; health and memory below are the API's alone (see {self.work}/serve-{n}.log)")
            self._health(n, proc, base)
            self._memory(n, proc, base)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()

    def _fresh_query(self, env: dict, settings) -> float:
        code = ("import sys; from index.embedding import load_embedder; import chromadb; "
                f"e = load_embedder({self.model!r}, {self.batch}, {self.device_req!r}, {self.backend!r}, "
                f"{str(settings.data_dir)!r}); "
                f"c = chromadb.PersistentClient(path={str(settings.data_dir / 'chroma')!r}).get_collection("
                f"{settings.collection!r}); "
                "r = c.query(query_embeddings=[e.get_query_embedding(sys.argv[1])], n_results=10); "
                "assert r['ids'][0]")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, questions(1)[0]], env=env, check=True, cwd=str(ROOT),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    def _chat_ready(self, proc, base: str) -> int:
        """Wait until the chat, built in the background after the API answers, serves ``/`` (not 503, starting);
        its HTTP status (500 where it failed to build)."""
        import httpx

        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if (status := httpx.get(f"{base}/", timeout=60).status_code) != 503:
                return status
            time.sleep(0.2)
        raise RuntimeError(f"the chat of rag serve was not ready within 10 minutes; see {self.work}/serve-*.log")

    def _first_answer(self, proc, base: str, question: str) -> None:
        import httpx

        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"rag serve exited with {proc.returncode}; see {self.work}/serve-*.log")
            try:
                r = httpx.post(f"{base}/api/ask", json={"question": question}, timeout=600)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("no answer from rag serve within an hour")

    def _health(self, n: int, proc, base: str) -> None:
        import httpx

        times = []
        with httpx.Client() as client:
            for _ in range(21):
                t = time.perf_counter()
                client.get(f"{base}/api/health").raise_for_status()
                times.append(time.perf_counter() - t)
        self.add(n=n, figure="/api/health median (21 sequential)", product=round(statistics.median(times) * 1000, 1),
                 unit="ms", target="constant in N (see ratio to the smallest N)")
        before = _threads(proc.pid)
        peak = [before]
        results: list[float | None] = []

        def probe() -> None:
            t = time.perf_counter()
            try:
                httpx.get(f"{base}/api/health", timeout=PROBE_TIMEOUT).raise_for_status()
                results.append(time.perf_counter() - t)
            except httpx.HTTPError:
                results.append(None)

        workers = [threading.Thread(target=probe) for _ in range(PROBES)]
        for w in workers:
            w.start()
        for w in workers:
            peak.append(_threads(proc.pid))
            w.join()
        time.sleep(2)
        after = _threads(proc.pid)
        answered = [r for r in results if r is not None]
        f = self.add(n=n, figure=f"/api/health under {PROBES} concurrent probes ({PROBE_TIMEOUT:.0f}s timeout), max",
                     product=round(max(answered) * 1000, 1) if answered else None, unit="ms",
                     target="all answered (2 s read timeout), no pile-up",
                     note=f"{len(answered)}/{PROBES} answered; server threads {before} -> peak {max(peak)} -> {after}")
        f.holds = len(answered) == PROBES

    def _memory(self, n: int, proc, base: str) -> None:
        import httpx

        count = self.args.rss_questions
        asked = distinct_questions(count + 10, seed=n)
        with httpx.Client(timeout=600) as client:
            for q in asked[:10]:  # warm: allocator pools, first-use imports
                client.post(f"{base}/api/ask", json={"question": q}).raise_for_status()
            before = _rss_mb(proc.pid)
            start = time.perf_counter()
            for q in asked[10:]:
                client.post(f"{base}/api/ask", json={"question": q}).raise_for_status()
            took = time.perf_counter() - start
        after = _rss_mb(proc.pid)
        f = self.add(n=n, figure=f"serving RSS growth over {count} distinct questions",
                     product=round(after - before, 1),
                     unit="MB", target="<= 50 MB" + ("" if count >= 1000 else " (over 1,000; fewer asked here)"),
                     note=f"{took / max(count, 1) * 1000:.0f} ms/question over HTTP")
        f.holds = after - before <= 50
        self.add(n=n, figure="serving RSS at N", product=round(after, 1), unit="MB")

    # --- across N -----------------------------------------------------------------

    def finish(self) -> None:
        ns = sorted(self.ask_ratio)
        if len(ns) > 1:
            top = max((x for x in ns if x <= 3000), default=ns[-1])
            if top != ns[0]:
                growth = round(self.ask_ratio[top] / self.ask_ratio[ns[0]], 2)
                self.add(n=top, figure=f"ask p50 ratio growth, N={ns[0]} -> {top}", product=self.ask_ratio[top],
                         baseline=self.ask_ratio[ns[0]], unit="x", ratio=growth,
                         target="not growing (<= 1.2, noise)", holds=growth <= 1.2)
        health = [f for f in self.figures if f.figure.startswith("/api/health median")]
        if len(health) > 1:
            for f in health[1:]:
                f.baseline = health[0].product
                f.ratio = round(f.product / f.baseline, 2)
                f.holds = f.ratio <= 2.0  # constant: within noise of the smallest N


def format_table(figures: list[Figure], meta: dict) -> str:
    lines = [f"machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
             f"{meta['machine']['memory_mb']} MB; device {meta['machine']['device']}; backend {meta['backend']}; "
             f"load average at start {meta['machine']['load_avg_at_start']}",
             f"command: {meta['command']}",
             f"real model up to N={meta['real_up_to']}; larger N index with the cheap hash embedder "
             "(pipeline overhead only), questions still embedded by the real model" if not meta["all_cheap"] else
             "CHEAP HASH EMBEDDER everywhere (--embedder cheap): pipeline figures only; no serve figures",
             "",
             "| N | figure | product | baseline | unit | ratio | target | holds | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for f in figures:
        holds = {True: "yes", False: "NO", None: ""}[f.holds]
        lines.append(f"| {f.n} | {f.figure} | {'' if f.product is None else f.product} | "
                     f"{'' if f.baseline is None else f.baseline} | {f.unit} | "
                     f"{'' if f.ratio is None else f'{f.ratio}x'} | {f.target} | {holds} | {f.note} |")
    return "\n".join(lines)


def main(args) -> int:
    ns = sorted(set(args.n or DEFAULT_N))
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="rag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        bench = Bench(args, work)
        meta = {"machine": machine(bench.device), "backend": bench.backend, "real_up_to": args.real_up_to,
                "all_cheap": bench.all_cheap, "command": " ".join(["rag", *sys.argv[1:]])}
        for n in ns:
            bench.run(n)
            print(f"[bench] N={n} done", file=sys.stderr, flush=True)
        bench.finish()
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({**meta, "figures": [asdict(f) for f in bench.figures]}, indent=2))
    else:
        print(format_table(bench.figures, meta))
    return 0
