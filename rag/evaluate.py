"""`rag eval`: score the bot against a JSON Lines test set through the same `ask` call the API uses."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from index.text import normalize, sentence_spans
from rag.models import MAX_ANSWER_CHARS, Answer
from rag.progress import bar_or_lines

if TYPE_CHECKING:
    from index.ingest import Progress
    from rag.service import RagService

METRICS = ("article_hit@1", "article_hit@5", "hit@1", "hit@3", "hit@5", "mrr", "answer_accuracy", "citation_accuracy",
           "abstention_precision", "abstention_recall", "false_abstentions", "latency_ms_p50", "latency_ms_p95")
_REQUIRED = {"id": str, "question": str, "answers": list, "sources": list, "answerable": bool}


class TestSetError(ValueError):
    """A test-set line is malformed; the message names the line."""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class Row:
    id: str
    question: str
    answers: list[str]
    sources: list[str]
    answerable: bool


def load_testset(path: Path) -> list[Row]:
    rows = []
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")  # a byte-order mark is fine
    except UnicodeDecodeError as exc:
        raise TestSetError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TestSetError(f"{path}:{n}: invalid JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise TestSetError(f"{path}:{n}: expected a JSON object")
        for key, kind in _REQUIRED.items():
            if key not in data:
                raise TestSetError(f"{path}:{n}: missing key {key!r}")
            if not isinstance(data[key], kind):
                raise TestSetError(f"{path}:{n}: {key!r} must be {kind.__name__}")
        for key in ("answers", "sources"):
            if not all(isinstance(x, str) for x in data[key]):
                raise TestSetError(f"{path}:{n}: {key!r} must be a list of strings")
        if not data["question"].strip():
            raise TestSetError(f"{path}:{n}: empty question")
        if data["answerable"] and not data["answers"]:
            raise TestSetError(f"{path}:{n}: answerable row without answers")
        rows.append(Row(**{k: data[k] for k in _REQUIRED}))
    if not rows:
        raise TestSetError(f"{path}: no questions")
    return rows


def matches(text: str, golds: list[str]) -> bool:
    """Case-insensitive containment after normalising quotes and dashes."""
    hay = normalize(text).lower()
    return any(normalize(g).lower() in hay for g in golds)


def _two_sentences_at_most(answer: str) -> bool:
    return len(answer) <= MAX_ANSWER_CHARS and len(sentence_spans(answer)) <= 2


def score_row(row: Row, result: Answer, texts: dict[str, str], latency_ms: float) -> dict:
    rank = next((i for i, c in enumerate(result.citations, 1) if matches(c.quote, row.answers)), None) \
        if row.answerable else None
    first = result.citations[0] if result.citations else None
    article_rank = next((i for i, c in enumerate(result.citations, 1) if c.doc_id in row.sources), None) \
        if row.answerable else None
    exact = first is not None and texts.get(first.doc_id, "")[first.start:first.end] == first.quote
    answer_ok = row.answerable and not result.abstained and _two_sentences_at_most(result.answer) \
        and matches(result.answer, row.answers)
    citation_ok = row.answerable and first is not None and first.doc_id in row.sources \
        and matches(first.quote, row.answers) and exact
    return {"id": row.id, "question": row.question, "answer": result.answer, "abstained": result.abstained,
            "confidence": result.confidence, "answerable": row.answerable, "gold": row.answers,
            "sources": row.sources, "rank": rank, "article_rank": article_rank, "answer_correct": bool(answer_ok),
            "citation_correct": bool(citation_ok),
            "abstention_correct": result.abstained == (not row.answerable),
            "citation": first.model_dump() if first else None, "latency_ms": round(latency_ms, 1)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def aggregate(per_question: list[dict]) -> dict:
    answerable = [r for r in per_question if r["answerable"]]
    unanswerable = [r for r in per_question if not r["answerable"]]
    abstained = [r for r in per_question if r["abstained"]]
    n_ans = len(answerable) or 1
    hit = {f"hit@{k}": sum(1 for r in answerable if r["rank"] and r["rank"] <= k) / n_ans for k in (1, 3, 5)}
    # A source article cited first / among the first five: retrieval compared fairly with a baseline
    # whose chunks hold whole articles.
    articles = {f"article_hit@{k}": sum(1 for r in answerable if r.get("article_rank") and r["article_rank"] <= k)
                / n_ans for k in (1, 5)}
    latencies = [r["latency_ms"] for r in per_question]
    correct_abstentions = sum(1 for r in abstained if not r["answerable"])
    metrics = {
        **articles,
        **hit,
        "mrr": sum(1 / r["rank"] for r in answerable if r["rank"]) / n_ans,
        "answer_accuracy": sum(r["answer_correct"] for r in answerable) / n_ans,
        "citation_accuracy": sum(r["citation_correct"] for r in answerable) / n_ans,
        "abstention_precision": correct_abstentions / len(abstained) if abstained else 1.0,
        "abstention_recall": correct_abstentions / len(unanswerable) if unanswerable else 1.0,
        "false_abstentions": sum(1 for r in answerable if r["abstained"]),
        "latency_ms_p50": round(_percentile(latencies, 0.5), 1),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 1),
    }
    rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}
    return {**rounded, "n": len(per_question), "answerable": len(answerable), "unanswerable": len(unanswerable)}


def calibration(per_question: list[dict], edges: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)) -> list[dict]:
    """Reliability of the confidence (the abstention model's probability that the articles answer
    the question): per confidence bin, the mean confidence and the share of questions answerable."""
    bins = []
    for lo, hi in zip(edges, edges[1:]):
        inside = [r for r in per_question if lo <= r["confidence"] < hi or (hi == edges[-1] and r["confidence"] == hi)]
        if inside:
            bins.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": len(inside),
                         "mean_confidence": round(sum(r["confidence"] for r in inside) / len(inside), 4),
                         "observed": round(sum(r["answerable"] for r in inside) / len(inside), 4)})
    return bins


def evaluate(rows: list[Row], ask, texts: dict[str, str], progress: "bool | Progress" = False) -> dict:
    """Run every row through ``ask(question) -> Answer``; return metrics and per-question results.

    ``progress``: True for a tqdm bar, or a callable given (done, total, row id) after each row."""
    from tqdm import tqdm

    per_question, refused = [], []
    for done, row in enumerate(tqdm(rows, desc="eval", unit="q", disable=progress is not True), 1):
        t0 = time.perf_counter()
        try:
            result = ask(row.question)
        except ValueError as exc:  # a question the bot refuses (too long, bad text): named, the rest goes on
            refused.append({"id": row.id, "reason": str(exc)})
        else:
            per_question.append(score_row(row, result, texts, (time.perf_counter() - t0) * 1000))
        if callable(progress):
            progress(done, len(rows), row.id)
    return {**aggregate(per_question), "calibration": calibration(per_question), "per_question": per_question,
            "refused": refused}


def parse_bounds(items: list[str]) -> dict[str, float]:
    bounds = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in METRICS:
            raise TestSetError(f"--min {item!r}: expected METRIC=VALUE with METRIC one of {', '.join(METRICS)}")
        try:
            bounds[name] = float(value)
        except ValueError:
            raise TestSetError(f"--min {item!r}: VALUE must be a number") from None
    return bounds


def failed_bounds(metrics: dict, bounds: dict[str, float]) -> list[str]:
    """Bounds not met; false_abstentions and latencies are upper bounds, the rest lower bounds."""
    upper = {"false_abstentions", "latency_ms_p50", "latency_ms_p95"}
    return [f"{k}={metrics[k]} (bound {v})" for k, v in bounds.items()
            if (metrics[k] > v if k in upper else metrics[k] < v)]


def run_cli(args: argparse.Namespace, service: "RagService") -> int:
    try:
        rows = load_testset(args.testset)
        bounds = parse_bounds(args.min)
    except (TestSetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    service.ensure_ingested()
    texts = {d.doc_id: service.document(d.doc_id).text for d in service.documents()}
    result = evaluate(rows, lambda q: service.ask(q, top_k=args.top_k), texts, progress=bar_or_lines("eval"))
    baseline = None
    if args.baseline == "llamaindex":
        from rag.baseline import llamaindex_ask

        ask = llamaindex_ask(service, top_k=args.top_k or service.settings.top_k)
        baseline = evaluate(rows, ask, texts, progress=bar_or_lines("eval llamaindex"))
    if args.report:
        from rag.report import write_report

        write_report(args.report, result, baseline)
    if args.json:
        out = {k: v for k, v in result.items()}
        if baseline:
            out["baseline"] = {"llamaindex": baseline}
        print(json.dumps(out, indent=2))
    else:
        print(format_table(result, baseline))
    for r in result["refused"]:
        print(f"refused question {r['id']}: {r['reason']}", file=sys.stderr)
    failures = failed_bounds(result, bounds)
    for f in failures:
        print(f"FAILED bound: {f}", file=sys.stderr)
    return 1 if failures else 0


def format_table(result: dict, baseline: dict | None = None) -> str:
    head = f"{'metric':24}{'rag':>10}" + (f"{'llamaindex':>12}" if baseline else "")
    lines = [head, "-" * len(head)]
    for k in (*METRICS, "n", "answerable", "unanswerable"):
        line = f"{k:24}{result[k]:>10}"
        if baseline:
            line += f"{baseline[k]:>12}"
        lines.append(line)
    return "\n".join(lines)


