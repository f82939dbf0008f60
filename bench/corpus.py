"""A deterministic synthetic news corpus of any size, from real sentences.

The sentences come from the seed articles and, when present, the NewsQA articles in
``../shared/newsqa/corpus/`` (read in place at run time, never copied into the project). They are
shuffled with a fixed seed and dealt into articles of ~18 passages (headline, byline, date, paragraphs
of one or two sentences), so article N is the same in every run and no two articles are copies.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
NEWSQA = ROOT.parent / "shared" / "newsqa"
PARAGRAPHS = 15  # plus headline, byline and date: about 18 passages an article
MAX_PARAGRAPH = 380  # characters: one passage each (the chunker cuts at 400)
OUTLETS = ("AFP", "Reuters", "CNN", "AP", "The Irrawaddy", "BBC", "Al Jazeera", "The Guardian")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’]))\s+(?=[A-Z\"“])")
_NOISE = re.compile(r"^(#|\*\*|By |\(CNN\)|[A-Z ,.]+\(CNN\))|\]\(|https?:|^\W*$")


def source_files() -> list[Path]:
    files = sorted(SEEDS.glob("*.txt"))
    if (NEWSQA / "corpus").is_dir():
        files += sorted((NEWSQA / "corpus").glob("*.txt"))
    return files


def sentences(files: list[Path] | None = None) -> list[str]:
    """Whole sentences of 6 to 60 words from the source articles, each once, in file order."""
    seen: dict[str, None] = {}
    for path in files or source_files():
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            block = " ".join(block.split())
            for sentence in _SENTENCE_END.split(block):
                if 6 <= len(sentence.split()) <= 60 and not _NOISE.search(sentence) and sentence[-1] in ".!?\"”":
                    seen.setdefault(sentence, None)
    return list(seen)


def _paragraphs(pool: list[str], rng: random.Random) -> Iterator[str]:
    while True:
        first = rng.choice(pool)
        second = rng.choice(pool)
        both = f"{first} {second}"
        yield both if len(both) <= MAX_PARAGRAPH else first[:MAX_PARAGRAPH]


def article_text(i: int, pool: list[str], seed: int = 13) -> str:
    """Article ``i``: a headline cut from one sentence, byline, date and paragraphs from the pool."""
    rng = random.Random(seed * 1_000_003 + i)
    head = rng.choice(pool).rstrip(".!?\"”").split()
    title = " ".join(head[:rng.randint(6, 11)])
    date = f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(2008, 2024)}"
    paragraphs = _paragraphs(pool, rng)
    body = [next(paragraphs) for _ in range(PARAGRAPHS)]
    return "\n\n".join([f"# {title}", f"By [{rng.choice(OUTLETS)}](#)", date, *body]) + "\n"


def write_corpus(folder: Path, n: int, seed: int = 13) -> list[Path]:
    """Write articles ``0..n-1`` into ``folder`` (files already there with the same bytes are kept)."""
    pool = sentences()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"a{i:05d}.md"
        text = article_text(i, pool, seed)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def questions(limit: int) -> list[str]:
    """Real questions about the same kind of news: the dev sets' (the NewsQA one read in place)."""
    found: list[str] = []
    for testset in (ROOT / "tests" / "data" / "dev.jsonl", NEWSQA / "dev.jsonl"):
        if testset.is_file():
            for line in testset.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    found.append(json.loads(line)["question"])
    rng = random.Random(7)
    rng.shuffle(found)
    return list(dict.fromkeys(found))[:limit]


def distinct_questions(n: int, seed: int = 29) -> list[str]:
    """``n`` different questions built from corpus sentences (for memory growth over many questions)."""
    pool = sentences()
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        words = rng.choice(pool).rstrip(".!?\"”").split()
        at = rng.randrange(max(1, len(words) - 6))
        out.setdefault(f"What happened when {' '.join(words[at:at + rng.randint(4, 8)])}?", None)
    return list(out)
