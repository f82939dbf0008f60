"""Fit the answerer and report held-out figures.

    # 1. features of every candidate sentence, for each question of a test set, over the index
    #    that RAG_CORPUS_DIR / RAG_DATA_DIR name (slow: the product's retrieval runs per question)
    python -m rag.calibrate collect TESTSET --out FEATURES.json
    # 2. fit on some feature files, score the others (fast; repeatable)
    python -m rag.calibrate fit --train squad.json --test newsqa.json seeds-dev.json [--save]

The shipped model is fitted on SQuAD 2.0 (``rag.squad`` turns it into a corpus and a test set),
a domain the news sets never share: the figures on the news sets are held out. ``fit`` also
prints each news set scored by a model fitted on the other news sets, and k-fold figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from rag.abstention import Abstainer, AnswerModel
from rag.answer import FEATURES, candidates, features
from rag.evaluate import load_testset, matches

ABSTAIN_FEATURES = ("dense", "score", "similarity", "coverage", "context_coverage", "type_match",
                    "nearness", "missing")


def collect(service, testset: Path, progress: bool = False) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Per question: every candidate's features, which candidates hold a gold answer, the best dense;
    and the question's and candidates' vectors (for fitting a reader over them)."""
    from tqdm import tqdm

    snap = service.snapshot()
    out, vectors = [], {}
    for row in tqdm(load_testset(testset), desc="collect", disable=not progress):
        query, hits = service.evidence(row.question)
        ranked = candidates(query, hits, snap.idf, snap.semantics, weights={})
        vectors[f"q:{row.id}"] = np.asarray(service._query_vector(query), dtype=np.float16)
        if ranked:
            vectors[f"s:{row.id}"] = snap.semantics.vectors([c.text for c in ranked]).astype(np.float16)
        out.append({"set": testset.stem, "id": row.id, "answerable": row.answerable,
                    "dense": max((h.dense for h in hits), default=0.0),
                    "x": [[round(float(getattr(c, f)), 5) for f in FEATURES] for c in ranked],
                    "restates": [int(c.novelty == 0) for c in ranked],
                    "y": [int(row.answerable and matches(c.text, row.answers)) for c in ranked]})
    return out, vectors


def fit_ranker(questions: list[dict], l2: float = 0.01, steps: int = 400, lr: float = 1.0) -> np.ndarray:
    """Softmax over each question's sentences towards those holding a gold answer (listwise)."""
    data = [(np.asarray(q["x"]), np.asarray(q["y"], dtype=float)) for q in questions if sum(q["y"])]
    w = np.zeros(len(FEATURES))
    for _ in range(steps):
        grad = l2 * w
        for x, y in data:
            z = x @ w
            p = np.exp(z - z.max())
            grad += x.T @ (p / p.sum() - y / y.sum()) / len(data)
        w -= lr * grad
    return w


def best_of(q: dict, w: np.ndarray) -> int | None:
    """The index of the sentence the ranker picks (a restatement of the question never wins)."""
    if not q["x"]:
        return None
    scores = np.asarray(q["x"]) @ w - 1e3 * np.asarray(q["restates"])
    return int(np.argmax(scores))


def abstain_features(q: dict, w: np.ndarray) -> dict[str, float] | None:
    i = best_of(q, w)
    if i is None:
        return None
    row = dict(zip(FEATURES, q["x"][i]))
    return {"dense": q["dense"], "score": float(np.asarray(q["x"][i]) @ w),
            **{f: row[f] for f in ABSTAIN_FEATURES if f in row}}


def fit_logistic(xs: np.ndarray, ys: np.ndarray, l2: float = 0.01, steps: int = 2000, lr: float = 0.5
                 ) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by gradient descent, on standardised inputs."""
    w, b = np.zeros(xs.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xs @ w + b)))
        w -= lr * (xs.T @ (p - ys) / len(ys) + l2 * w)
        b -= lr * float(np.mean(p - ys))
    return w, b


def fit_abstainer(questions: list[dict], w: np.ndarray, threshold: float = 0.5) -> Abstainer:
    rows = [(f, q["answerable"]) for q in questions if (f := abstain_features(q, w)) is not None]
    xs = np.array([[f[k] for k in ABSTAIN_FEATURES] for f, _ in rows])
    ys = np.array([float(a) for _, a in rows])
    mean, std = xs.mean(axis=0), xs.std(axis=0) + 1e-6
    coef, bias = fit_logistic((xs - mean) / std, ys)
    # Fold the standardisation into the weights so that the saved model reads raw features.
    weights = {k: round(float(c / s), 4) for k, c, s in zip(ABSTAIN_FEATURES, coef, std)}
    return Abstainer(weights, round(float(bias - np.sum(coef * mean / std)), 4), threshold)


def fit(questions: list[dict], threshold: float = 0.5) -> AnswerModel:
    w = fit_ranker(questions)
    return AnswerModel({f: round(float(x), 4) for f, x in zip(FEATURES, w)}, fit_abstainer(questions, w, threshold))


def figures(questions: list[dict], model: AnswerModel) -> dict[str, float]:
    """What ``rag eval`` would report for answer selection and abstention, from the features alone."""
    w = np.array([model.ranker.get(f, 0.0) for f in FEATURES])
    ans = [q for q in questions if q["answerable"]]
    unans = [q for q in questions if not q["answerable"]]
    right = abstained_ans = abstained_unans = top1 = 0
    for q in questions:
        i = best_of(q, w)
        f = abstain_features(q, w)
        abstain = f is None or model.abstainer.probability(f) < model.abstainer.threshold
        if q["answerable"]:
            correct = i is not None and q["y"][i] == 1
            top1 += correct
            right += correct and not abstain
            abstained_ans += abstain
        else:
            abstained_unans += abstain
    return {"n": len(questions), "top1": round(top1 / max(1, len(ans)), 3),
            "gold_in_pool": round(sum(1 for q in ans if sum(q["y"])) / max(1, len(ans)), 3),
            "answer_accuracy": round(right / max(1, len(ans)), 3),
            "abstention_recall": round(abstained_unans / max(1, len(unans)), 3),
            "false_abstentions": abstained_ans}


def kfold(questions: list[dict], k: int = 5, seed: int = 0) -> dict[str, float]:
    """k-fold cross-validated figures (folds by question; each question scored by a model that never saw it)."""
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)
    scored: list[dict] = []
    totals: dict[str, float] = {}
    for fold in range(k):
        test = [questions[i] for i in order[fold::k]]
        train = [questions[i] for i in order if i not in set(order[fold::k])]
        f = figures(test, fit(train))
        scored.append(f)
    n = sum(f["n"] for f in scored)
    for key in ("top1", "answer_accuracy", "abstention_recall"):
        totals[key] = round(sum(f[key] * f["n"] for f in scored) / n, 3)
    totals["false_abstentions"] = sum(f["false_abstentions"] for f in scored)
    return totals


def _load(paths: list[Path]) -> dict[str, list[dict]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in paths}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="candidate features for a test set over the configured index")
    c.add_argument("testset", type=Path)
    c.add_argument("--out", type=Path, required=True)
    f = sub.add_parser("fit", help="fit on --train feature files, score --test ones")
    f.add_argument("--train", type=Path, nargs="+", required=True)
    f.add_argument("--test", type=Path, nargs="*", default=[])
    f.add_argument("--threshold", type=float, default=0.5)
    f.add_argument("--save", action="store_true", help="write rag/answerer.json")
    args = ap.parse_args(argv)
    if args.command == "collect":
        from rag.service import RagService
        from rag.settings import Settings

        service = RagService(Settings().resolved())
        service.ensure_ingested()
        rows, vectors = collect(service, args.testset, sys.stderr.isatty())
        args.out.write_text(json.dumps(rows), encoding="utf-8")
        np.savez_compressed(args.out.with_suffix(".npz"), **vectors)
        return 0
    train, test = _load(args.train), _load(args.test)
    everything = [q for qs in train.values() for q in qs]
    model = fit(everything, args.threshold)
    held_out = {name: figures(qs, model) for name, qs in test.items()}
    print("fitted on", ", ".join(train), "->", json.dumps(model.ranker))
    print("abstainer", json.dumps(model.abstainer.weights), "bias", model.abstainer.bias)
    for name, qs in train.items():
        print(f"  {name} (in-sample): {figures(qs, model)}; 5-fold: {kfold(qs)}")
    for name, f in held_out.items():
        print(f"  {name} (held out, other domain): {f}")
    if args.save:
        AnswerModel(model.ranker, model.abstainer, fitted_on=", ".join(train), extra=held_out).save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
