"""Fit the answerer on a test set: ``python -m rag.calibrate [TESTSET] [--rank] [--save]``.

Default: the abstention model; prints leave-one-out (held-out) figures, then fits on
every row and, with ``--save``, writes ``rag/abstention.json``. ``--rank``: the sentence
ranking weights (a listwise softmax fit); prints leave-one-out top-1 and the weights to
put in ``rag.answer.WEIGHTS``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

from rag.abstention import Abstainer
import numpy as np

from rag.answer import WEIGHTS, candidates, features, ruled_out
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
    """The missing-name rarity that rules a question out: halfway between the highest an answerable
    row shows and the next unanswerable row above it (None when no unanswerable row is above)."""
    value = lambda r: r["features"]["missing_name"]  # noqa: E731
    ceiling = max((value(r) for r in rows if r["row"].answerable), default=0.0)
    above = [value(r) for r in rows if not r["row"].answerable and value(r) > ceiling]
    return round((ceiling + min(above)) / 2, 4) if above else None


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


def rank_main(service: RagService, testset: Path) -> None:
    snap = service.snapshot()
    questions = []
    for row in load_testset(testset):
        query, hits = service.evidence(row.question)
        ranked = candidates(query, hits, snap.idf, snap.semantics) if row.answerable else []
        y = np.array([matches(c.text, row.answers) for c in ranked], dtype=float)
        if y.sum():
            questions.append((np.array([[getattr(c, f) for f in WEIGHTS] for c in ranked]), y))
    top1 = lambda w, qs: sum(int(y[np.argmax(x @ w)] > 0) for x, y in qs)  # noqa: E731
    held_out = sum(top1(fit_ranker(questions[:i] + questions[i + 1:]), [questions[i]])
                   for i in range(len(questions)))
    print(f"gold sentence among candidates: {len(questions)}; leave-one-out top-1: {held_out}; "
          f"current weights top-1: {top1(np.array(list(WEIGHTS.values())), questions)}")
    print("fitted on all:", dict(zip(WEIGHTS, np.round(fit_ranker(questions), 2).tolist())))


def collect(service: RagService, testset: Path) -> list[dict]:
    snap = service.snapshot()
    rows = []
    for row in load_testset(testset):
        query, hits = service.evidence(row.question)
        ranked = candidates(query, hits, snap.idf, snap.semantics)
        best = ranked[0] if ranked else None
        correct = bool(best and row.answerable and matches(best.text, row.answers))
        rows.append({"row": row, "features": features(query, best, hits, snap.idf) if best else {}, "correct": correct,
                     "ruled_out": bool(best and ruled_out(query, best))})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("testset", nargs="?", type=Path, default=Path("tests/data/dev.jsonl"))
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--save", action="store_true")
    ap.add_argument("--rank", action="store_true", help="fit the sentence ranking weights instead")
    args = ap.parse_args()
    service = RagService(Settings().resolved())
    service.ensure_ingested()
    if args.rank:
        return rank_main(service, args.testset)
    data = [r for r in collect(service, args.testset) if r["features"]]
    xs = [[r["features"][f] for f in FEATURES] for r in data]
    # The model predicts answerability: abstaining is right exactly on unanswerable rows.
    ys = [int(r["row"].answerable) for r in data]
    correct = [r["correct"] for r in data]
    print(f"best sentence holds a gold answer: {sum(correct)}/{sum(ys)} answerable")
    held_out = []
    for i in range(len(data)):
        model = train(xs[:i] + xs[i + 1:], ys[:i] + ys[i + 1:], args.threshold)
        model = replace(model, rare_name=rare_name_cut(data[:i] + data[i + 1:]))
        held_out.append(model.probability(data[i]["features"]))
    answerable = [r["row"].answerable for r in data]
    abstain = [r["ruled_out"] or p < args.threshold for r, p in zip(data, held_out)]
    n_ans, n_un = sum(answerable), len(data) - sum(answerable)
    print("leave-one-out: answer_accuracy %.3f, abstention_recall %.3f, false_abstentions %d" % (
        sum(1 for a, c, s in zip(answerable, correct, abstain) if a and c and not s) / n_ans,
        sum(1 for a, s in zip(answerable, abstain) if not a and s) / max(1, n_un),
        sum(1 for a, s in zip(answerable, abstain) if a and s)))
    for r, p in zip(data, held_out):
        print(f"  {r['row'].id} p={p:.2f} ruled_out={r['ruled_out']} correct={r['correct']} "
              f"answerable={r['row'].answerable}")
    model = replace(train(xs, ys, args.threshold), rare_name=rare_name_cut(data))
    print("fitted on all rows:", model)
    if args.save:
        model.save()


if __name__ == "__main__":
    main()
