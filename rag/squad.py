"""SQuAD 2.0 as fitting data: ``python -m rag.squad SQUAD.json OUT_DIR [--titles N] [--questions N]``.

SQuAD 2.0 (Rajpurkar et al., 2018; CC BY-SA 4.0) is Wikipedia, not news: the answerer is fitted
there and judged on the news sets it never saw. This writes

- ``OUT_DIR/corpus/``: one article per group of consecutive paragraphs of the first ``--titles``
  Wikipedia titles (the title as the headline line), so that retrieval has distractors;
- ``OUT_DIR/fit.jsonl``: questions in the product's test-set format. Answerable ones cite their
  article; SQuAD's adversarial unanswerable questions (the paragraph is on topic, the answer is
  not there) and questions about titles left out of the corpus (a user asking about news that
  isn't indexed) are unanswerable rows.

The data is read from wherever the user keeps it; nothing of it ships with the product.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

PARAGRAPHS_PER_ARTICLE = 4


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:40] or "article"


def convert(squad: Path, out: Path, titles: int, questions: int, seed: int = 0) -> dict[str, int]:
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    rng = random.Random(seed)
    indexed, left_out = data[:titles], data[titles:]
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    answerable, impossible, off_corpus = [], [], []
    for t, article in enumerate(indexed):
        paragraphs = article["paragraphs"]
        for g in range(0, len(paragraphs), PARAGRAPHS_PER_ARTICLE):
            group = paragraphs[g:g + PARAGRAPHS_PER_ARTICLE]
            doc_id = f"{t:02d}_{g // PARAGRAPHS_PER_ARTICLE:02d}_{_slug(article['title'])}"
            title = article["title"].replace("_", " ")
            (corpus / f"{doc_id}.txt").write_text(
                title + "\n\n" + "\n\n".join(p["context"].strip() for p in group) + "\n", encoding="utf-8")
            for p in group:
                for qa in p["qas"]:
                    golds = list(dict.fromkeys(a["text"] for a in qa.get("answers", []) if a["text"].strip()))
                    row = {"id": qa["id"], "question": qa["question"].strip(), "answers": golds,
                           "sources": [doc_id], "answerable": bool(golds) and not qa.get("is_impossible")}
                    if not row["answerable"]:
                        row["answers"] = []
                    (answerable if row["answerable"] else impossible).append(row)
    for article in left_out:
        for p in article["paragraphs"]:
            off_corpus += [{"id": qa["id"], "question": qa["question"].strip(), "answers": [], "sources": [],
                            "answerable": False} for qa in p["qas"]]
    # Half answerable, a quarter each of the two kinds of unanswerable question.
    picked = (rng.sample(answerable, min(len(answerable), questions // 2))
              + rng.sample(impossible, min(len(impossible), questions // 4))
              + rng.sample(off_corpus, min(len(off_corpus), questions // 4)))
    rng.shuffle(picked)
    with open(out / "fit.jsonl", "w", encoding="utf-8") as fh:
        for row in picked:
            fh.write(json.dumps(row) + "\n")
    return {"articles": len(list(corpus.glob("*.txt"))), "questions": len(picked)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("squad", type=Path, help="SQuAD 2.0 JSON (e.g. dev-v2.0.json)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--titles", type=int, default=25, help="Wikipedia titles indexed; the rest are off-corpus")
    ap.add_argument("--questions", type=int, default=1200)
    args = ap.parse_args()
    print(convert(args.squad, args.out, args.titles, args.questions))


if __name__ == "__main__":
    main()
