"""Split an article's content into citable passages with exact raw-text offsets."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from llama_index.core.node_parser import SentenceSplitter

from index.article import Article

# A block that stops mid-sentence continues in the next block when that one
# starts in lower case (scraped pages often break a sentence across a blank line).
_OPEN_END = re.compile(r"[^.!?:\"”’)\]*]$")


@dataclass(frozen=True)
class Passage:
    doc_id: str
    start: int
    end: int
    text: str

    @property
    def passage_id(self) -> str:
        """Deterministic id: the same passage always upserts onto the same record."""
        digest = hashlib.sha1(self.text.encode("utf-8")).hexdigest()[:12]
        return f"{self.doc_id}:{self.start}:{self.end}:{digest}"


def _blocks(article: Article) -> list[tuple[int, int]]:
    """Merge content lines into blocks, rejoining sentences broken across lines."""
    blocks: list[tuple[int, int]] = []
    raw = article.raw_text
    for start, end in article.spans:
        if blocks:
            prev_start, prev_end = blocks[-1]
            if _OPEN_END.search(raw[prev_start:prev_end]) and raw[start].islower():
                blocks[-1] = (prev_start, end)
                continue
        blocks.append((start, end))
    return blocks


def make_splitter(max_chars: int) -> SentenceSplitter:
    """Sentence-aware splitter measuring chunk size in characters, no overlap."""
    return SentenceSplitter(chunk_size=max_chars, chunk_overlap=0, tokenizer=list)


def _locate(block: str, piece: str, cursor: int) -> tuple[int, int]:
    """Find ``piece`` in ``block`` at or after ``cursor`` (whitespace-tolerant)."""
    at = block.find(piece, cursor)
    if at >= 0:
        return at, at + len(piece)
    pattern = r"\s+".join(re.escape(w) for w in piece.split())
    m = re.compile(pattern).search(block, cursor)
    if m is None:
        raise ValueError(f"splitter output not found in source text: {piece[:60]!r}")
    return m.start(), m.end()


def chunk(article: Article, max_chars: int = 400, splitter: SentenceSplitter | None = None) -> list[Passage]:
    """Passages of about one to three sentences; ``raw_text[start:end] == text``."""
    splitter = splitter or make_splitter(max_chars)
    raw = article.raw_text
    passages: list[Passage] = []
    for b_start, b_end in _blocks(article):
        block = raw[b_start:b_end]
        cursor = 0
        for piece in splitter.split_text(block):
            piece = piece.strip()
            if not piece:
                continue
            s, e = _locate(block, piece, cursor)
            cursor = e
            passages.append(Passage(article.doc_id, b_start + s, b_start + e, raw[b_start + s:b_start + e]))
    return passages
