"""Fit the answerer on test sets: ``python -m rag.calibrate [TESTSET ...] [--rank] [--save]``.

The sets default to the public dev set and ``tests/data/train.jsonl`` (questions written for
fitting). Default: the abstention model; prints held-out figures (leave-one-out over all rows,
and each set scored by a model fitted on the others), then fits on every row and, with
``--save``, writes ``rag/abstention.json``. ``--rank``: the sentence ranking weights (a
listwise softmax fit); prints the same held-out top-1 figures and the weights to put in
``rag.answer.WEIGHTS``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from rag.abstention import Abstainer
import numpy as np

from rag.answer import WEIGHTS, candidates, features, read_on, ruled_out
from rag.evaluate import load_testset, matches
from rag.service import RagService
from rag.settings import Settings

FEATURES = ("dense", "soft_coverage", "nearness")


def fit(xs: list[list[float]], ys: list[int], l2: float = 0.02, steps: int = 3000, lr: float = 0.5
        ) -> tuple[list[float], float]:
    """Plain L2-regularised logistic regression by gradient descent (standardised inputs)."""
    n, d = len(xs), len(xs[0])
    w, b = [0.0] * d, 0.0
    for _ in range(steps):
        gw, gb = [l2 * wi for wi in w], 0.0
        for x, y in zip(xs, ys):
            p = 1 / (1 + math.exp(-(b + sum(wi * xi for wi, xi in zip(w, x)))))
            for i in range(d):
                gw[i] += (p - y) * x[i] / n
            gb += (p - y) / n
        w = [wi - lr * g for wi, g in zip(w, gw)]
        b -= lr * gb
    return w, b


def to_abstainer(w: list[float], b: float, mean: list[float], std: list[float], threshold: float) -> Abstainer:
    """Fold the standardisation into the weights so the saved model takes raw features."""
    weights = {f: wi / s for f, wi, s in zip(FEATURES, w, std)}
    bias = b - sum(wi * m / s for wi, m, s in zip(w, mean, std))
    return Abstainer({k: round(v, 4) for k, v in weights.items()}, round(bias, 4), threshold)


def rare_name_cut(rows: list[dict]) -> float | None:
    """The missing-name rarity above which a question is ruled out: of the cuts halfway between
    observed values, the one ruling out the most unanswerable rows net of rightly answered ones
    (saying "the articles don't say" instead of a wrong answer costs the user nothing); the
    highest such cut on a tie, so that one odd row cannot switch the rule off. None if none gains."""
    value = lambda r: r["features"]["missing_name"]  # noqa: E731
    points = sorted({value(r) for r in rows} | {0.0})
    best, gain = None, 0
    for low, high in zip(points, points[1:]):
        cut = (low + high) / 2
        net = sum(1 if not r["row"].answerable else -int(r["correct"]) for r in rows if value(r) > cut)
        if net > 0 and net >= gain:
            best, gain = round(cut, 4), net
    return best


def train(xs: list[list[float]], ys: list[int], threshold: float) -> Abstainer:
    d = len(xs[0])
    mean = [sum(x[i] for x in xs) / len(xs) for i in range(d)]
    std = [max(1e-6, math.sqrt(sum((x[i] - mean[i]) ** 2 for x in xs) / len(xs))) for i in range(d)]
    w, b = fit([[(x[i] - mean[i]) / std[i] for i in range(d)] for x in xs], ys)
    return to_abstainer(w, b, mean, std, threshold)


def fit_ranker(questions: list[tuple[np.ndarray, np.ndarray]], l2: float = 0.03, steps: int = 1500,
               lr: float = 2.0) -> np.ndarray:
    """Softmax over each question's sentences towards those holding a gold answer."""
    w = np.zeros(questions[0][0].shape[1])
    for _ in range(steps):
        grad = l2 * w
        for x, y in questions:
            p = np.exp(x @ w - (x @ w).max())
            grad += x.T @ (p / p.sum() - y / y.sum()) / len(questions)
        w -= lr * grad
    return w


def rank_main(service: RagService, testsets: list[Path]) -> None:
    snap = service.snapshot()
    sets: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for testset in testsets:
        questions = sets.setdefault(testset.stem, [])
        for row in load_testset(testset):
            query, hits = service.evidence(row.question)
            ranked = candidates(query, hits, snap.idf, snap.semantics) if row.answerable else []
            y = np.array([matches(c.text, row.answers) for c in ranked], dtype=float)
            if y.sum():
                questions.append((np.array([[getattr(c, f) for f in WEIGHTS] for c in ranked]), y))
    top1 = lambda w, qs: sum(int(y[np.argmax(x @ w)] > 0) for x, y in qs)  # noqa: E731
    current = np.array(list(WEIGHTS.values()))
    everything = [q for questions in sets.values() for q in questions]
    held_out = sum(top1(fit_ranker(everything[:i] + everything[i + 1:]), [everything[i]])
                   for i in range(len(everything)))
    print(f"gold sentence among candidates: {len(everything)}; leave-one-out top-1: {held_out}")
    for name, questions in sets.items():
        others = [q for other, qs in sets.items() if other != name for q in qs]
        crossed = f"; fitted on the other sets: {top1(fit_ranker(others), questions)}" if others else ""
        print(f"  {name}: {len(questions)} with a gold candidate; current weights top-1: "
              f"{top1(current, questions)}{crossed}")
    print("fitted on all:", dict(zip(WEIGHTS, np.round(fit_ranker(everything), 2).tolist())))


def collect(service: RagService, testset: Path) -> list[dict]:
    snap = service.snapshot()
    rows = []
    for row in load_testset(testset):
        query, hits = service.evidence(row.question)
        ranked = candidates(query, hits, snap.idf, snap.semantics)
        best = ranked[0] if ranked else None
        correct = bool(best and row.answerable and matches(best.text, row.answers))
        rows.append({"set": testset.stem, "row": row, "correct": correct,
                     "features": features(query, best, hits, snap.idf, read_on(
                         best, service.store.text_of(hits[best.hit_rank].passage.doc_id))[1]) if best else {},
                     "ruled_out": bool(best and ruled_out(query, best))})
    return rows


def fit_abstainer(data: list[dict], threshold: float) -> Abstainer:
    """The logistic model and its rare-name cut, fitted on ``data``."""
    xs = [[r["features"][f] for f in FEATURES] for r in data]
    # The model predicts answerability: abstaining is right exactly on unanswerable rows.
    ys = [int(r["row"].answerable) for r in data]
    return replace(train(xs, ys, threshold), rare_name=rare_name_cut(data))


def figures(data: list[dict], probabilities: list[float], threshold: float) -> str:
    abstain = [r["ruled_out"] or p < threshold for r, p in zip(data, probabilities)]
    answerable = [r["row"].answerable for r in data]
    n_ans, n_un = sum(answerable), len(data) - sum(answerable)
    return "answer_accuracy %.3f, abstention_recall %.3f, false_abstentions %d" % (
        sum(1 for r, s in zip(data, abstain) if r["row"].answerable and r["correct"] and not s) / max(1, n_ans),
        sum(1 for a, s in zip(answerable, abstain) if not a and s) / max(1, n_un),
        sum(1 for a, s in zip(answerable, abstain) if a and s))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("testsets", nargs="*", type=Path,
                    default=[Path("tests/data/dev.jsonl"), Path("tests/data/train.jsonl")])
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--save", action="store_true")
    ap.add_argument("--rank", action="store_true", help="fit the sentence ranking weights instead")
    args = ap.parse_args()
    service = RagService(Settings().resolved())
    service.ensure_ingested()
    if args.rank:
        return rank_main(service, args.testsets)
    data = [r for testset in args.testsets for r in collect(service, testset) if r["features"]]
    print(f"best sentence holds a gold answer: {sum(r['correct'] for r in data)}/"
          f"{sum(r['row'].answerable for r in data)} answerable")
    held_out = [fit_abstainer(data[:i] + data[i + 1:], args.threshold).probability(data[i]["features"])
                for i in range(len(data))]
    print("leave-one-out:", figures(data, held_out, args.threshold))
    for name in dict.fromkeys(r["set"] for r in data):
        rows = [r for r in data if r["set"] == name]
        others = [r for r in data if r["set"] != name]
        print(f"  {name}, leave-one-out:", figures(rows, [p for r, p in zip(data, held_out) if r["set"] == name],
                                                   args.threshold))
        if others:
            model = fit_abstainer(others, args.threshold)
            print(f"  {name}, fitted on the other sets:",
                  figures(rows, [model.probability(r["features"]) for r in rows], args.threshold))
    for r, p in zip(data, held_out):
        if r["row"].answerable == (r["ruled_out"] or p < args.threshold):
            print(f"  held-out miss: {r['row'].id} p={p:.2f} ruled_out={r['ruled_out']} "
                  f"answerable={r['row'].answerable}")
    model = fit_abstainer(data, args.threshold)
    print("fitted on all rows:", model)
    if args.save:
        model.save()


if __name__ == "__main__":
    main()
