"""Fit the abstention model on a test set: ``python -m rag.calibrate [TESTSET]``.

Prints leave-one-out (held-out) figures, then fits on every row and saves
``rag/abstention.json`` (only with ``--save``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rag.abstention import Abstainer
from rag.answer import candidates, features
from rag.evaluate import load_testset, matches
from rag.service import RagService
from rag.settings import Settings

FEATURES = ("dense", "coverage")


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


def train(xs: list[list[float]], ys: list[int], threshold: float) -> Abstainer:
    d = len(xs[0])
    mean = [sum(x[i] for x in xs) / len(xs) for i in range(d)]
    std = [max(1e-6, math.sqrt(sum((x[i] - mean[i]) ** 2 for x in xs) / len(xs))) for i in range(d)]
    w, b = fit([[(x[i] - mean[i]) / std[i] for i in range(d)] for x in xs], ys)
    return to_abstainer(w, b, mean, std, threshold)


def collect(service: RagService, testset: Path) -> list[dict]:
    snap = service.snapshot()
    rows = []
    for row in load_testset(testset):
        query, hits = service.evidence(row.question)
        ranked = candidates(query, hits, snap.idf, service.sentence_similarity)
        best = ranked[0] if ranked else None
        correct = bool(best and row.answerable and matches(best.text, row.answers))
        rows.append({"row": row, "features": features(best, hits) if best else {}, "correct": correct})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("testset", nargs="?", type=Path, default=Path("tests/data/dev.jsonl"))
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    service = RagService(Settings().resolved())
    service.ensure_ingested()
    data = [r for r in collect(service, args.testset) if r["features"]]
    xs = [[r["features"][f] for f in FEATURES] for r in data]
    # The model predicts answerability: abstaining is right exactly on unanswerable rows.
    ys = [int(r["row"].answerable) for r in data]
    correct = [r["correct"] for r in data]
    print(f"best sentence holds a gold answer: {sum(correct)}/{sum(ys)} answerable")
    held_out = []
    for i in range(len(data)):
        model = train(xs[:i] + xs[i + 1:], ys[:i] + ys[i + 1:], args.threshold)
        held_out.append(model.probability(data[i]["features"]))
    answerable = [r["row"].answerable for r in data]
    abstain = [p < args.threshold for p in held_out]
    n_ans, n_un = sum(answerable), len(data) - sum(answerable)
    print("leave-one-out: answer_accuracy %.3f, abstention_recall %.3f, false_abstentions %d" % (
        sum(1 for a, c, s in zip(answerable, correct, abstain) if a and c and not s) / n_ans,
        sum(1 for a, s in zip(answerable, abstain) if not a and s) / max(1, n_un),
        sum(1 for a, s in zip(answerable, abstain) if a and s)))
    for r, p in zip(data, held_out):
        print(f"  {r['row'].id} p={p:.2f} correct={r['correct']} answerable={r['row'].answerable}")
    model = train(xs, ys, args.threshold)
    print("fitted on all rows:", model)
    if args.save:
        model.save()


if __name__ == "__main__":
    main()
