"""A learned answer-sentence reader over the embedding model's vectors.

Cosine similarity says a sentence is *about* the question; the reader is fitted to say whether it
*answers* it. It is a small two-layer network over the question's and the sentence's vectors (their
product and difference), fitted listwise on SQuAD 2.0 (Rajpurkar et al., 2018; CC BY-SA 4.0):
among a paragraph's sentences, the one holding the answer. It reads vectors the product computes
anyway, so it adds no model call; its weights ship in ``reader.npz`` (float16, under 1 MB).

    python -m rag.reader fit SQUAD.json [--out rag/reader.npz] [--questions N]

SQuAD is Wikipedia, not news: the reader is judged on the news sets it never saw (``rag.calibrate``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS_FILE = Path(__file__).with_name("reader.npz")


def pair_features(q: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``[q * s, |q - s|]`` for one question vector against each row of ``s``."""
    return np.concatenate([s * q, np.abs(s - q)], axis=1)


class Reader:
    def __init__(self, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: float) -> None:
        self.w1, self.b1, self.w2, self.b2 = (w1.astype(np.float32), b1.astype(np.float32),
                                              w2.astype(np.float32), float(b2))

    def scores(self, question: np.ndarray, sentences: np.ndarray) -> np.ndarray:
        """A logit per sentence: higher means more likely to hold the answer."""
        if not len(sentences):
            return np.zeros(0, dtype=np.float32)
        x = pair_features(np.asarray(question, dtype=np.float32), np.asarray(sentences, dtype=np.float32))
        return np.maximum(x @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2

    @staticmethod
    @lru_cache(maxsize=1)
    def default() -> "Reader | None":
        return Reader.load(WEIGHTS_FILE) if WEIGHTS_FILE.is_file() else None

    @staticmethod
    def load(path: Path) -> "Reader":
        with np.load(path) as z:
            return Reader(z["w1"], z["b1"], z["w2"], float(z["b2"]))

    def save(self, path: Path) -> None:
        np.savez_compressed(path, w1=self.w1.astype(np.float16), b1=self.b1.astype(np.float16),
                            w2=self.w2.astype(np.float16), b2=np.float32(self.b2))


def squad_lists(squad: Path, questions: int, skip_titles: int = 0, seed: int = 0
                ) -> list[tuple[str, list[str], int]]:
    """``(question, the paragraph's sentences, index of the sentence holding the answer)``, from the
    titles after the first ``skip_titles`` (those may be kept for fitting the ranker on top)."""
    from rag.text import sentence_spans

    out = []
    for article in json.loads(squad.read_text(encoding="utf-8"))["data"][skip_titles:]:
        for p in article["paragraphs"]:
            text = p["context"]
            spans = sentence_spans(text)
            if len(spans) < 2:
                continue
            for qa in p["qas"]:
                answers = [a for a in qa.get("answers", []) if a.get("text")]
                if qa.get("is_impossible") or not answers:
                    continue
                at = answers[0]["answer_start"]
                gold = next((i for i, (s, e) in enumerate(spans) if s <= at < e), None)
                if gold is not None:
                    out.append((qa["question"].strip(), [text[s:e] for s, e in spans], gold))
    random.Random(seed).shuffle(out)
    return out[:questions]


def fit(lists: list[tuple[np.ndarray, np.ndarray, int]], hidden: int = 128, epochs: int = 30, lr: float = 1e-3,
        l2: float = 1e-4, seed: int = 0) -> Reader:
    """Listwise softmax over each paragraph's sentences, Adam, in plain torch (CPU)."""
    import torch

    torch.manual_seed(seed)
    dim = lists[0][0].shape[0] * 2
    net = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=l2)
    data = [(torch.tensor(pair_features(q, s), dtype=torch.float32), gold) for q, s, gold in lists]
    order = list(range(len(data)))
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), 32):
            loss = sum(torch.nn.functional.cross_entropy(net(data[i][0]).squeeze(1)[None],
                                                         torch.tensor([data[i][1]]))
                       for i in order[start:start + 32]) / len(order[start:start + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
    first, second = net[0], net[2]
    return Reader(first.weight.detach().numpy().T, first.bias.detach().numpy(),
                  second.weight.detach().numpy()[0], float(second.bias.detach().numpy()[0]))


def top1(reader: Reader, lists: list[tuple[np.ndarray, np.ndarray, int]]) -> float:
    return sum(int(np.argmax(reader.scores(q, s)) == gold) for q, s, gold in lists) / max(1, len(lists))


def cosine_top1(lists: list[tuple[np.ndarray, np.ndarray, int]]) -> float:
    return sum(int(np.argmax(s @ q) == gold) for q, s, gold in lists) / max(1, len(lists))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="fit the reader on a SQuAD 2.0 JSON file")
    f.add_argument("squad", type=Path)
    f.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    f.add_argument("--questions", type=int, default=4000)
    f.add_argument("--skip-titles", type=int, default=0, help="leave the first N Wikipedia titles out")
    args = ap.parse_args(argv)
    from index.embedding import load_embedder
    from rag.settings import Settings

    embedder = load_embedder(Settings().embed_model)
    raw = squad_lists(args.squad, args.questions, args.skip_titles)
    texts = list(dict.fromkeys(t for _, sents, _ in raw for t in sents))
    vec = dict(zip(texts, np.asarray(embedder.get_text_embedding_batch(texts), dtype=np.float32)))
    qvec = [np.asarray(embedder.get_query_embedding(q), dtype=np.float32) for q, _, _ in raw]
    lists = [(qv, np.stack([vec[t] for t in sents]), gold) for qv, (_, sents, gold) in zip(qvec, raw)]
    cut = len(lists) * 4 // 5
    held = fit(lists[:cut])
    print(f"{len(lists)} questions; held-out 1/5: reader top-1 {top1(held, lists[cut:]):.3f}, "
          f"cosine top-1 {cosine_top1(lists[cut:]):.3f}")
    fit(lists).save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
