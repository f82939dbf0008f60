"""Hybrid retrieval: dense (Chroma; the question and its keyword form) + BM25 (llama-index; passage
text plus outlet and role words), reciprocal-rank fused, with near-duplicate passages (republished
wire copy) folded into one hit."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from index.store import StoredPassage
from rag.fields import field_words, role_stems
from rag.text import STOPWORDS, content_words, normalize, stem, tokens

RRF_K = 60.0
LEXICAL_DEPTH = 50  # BM25 candidates considered per query
DUPLICATE_JACCARD = 0.7
SLIP_MIN_CHARS = 6  # shorter words are one letter off too many others ("name"/"came")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class Hit:
    passage: StoredPassage
    score: float  # fused score
    dense: float = 0.0  # cosine to the question (to its keyword form if only that found the passage)
    lexical: float = 0.0  # BM25 score
    duplicates: list[StoredPassage] = field(default_factory=list)  # same text in other articles
    fields: str = ""  # outlet and role words (rag.fields) the passage is also found by
    before: str = ""  # the article's passage before this one
    roles: frozenset[str] = frozenset()  # stemmed role words (rag.fields.role_stems) of the passage


class LexicalIndex:
    """BM25 over the passages (llama-index's BM25Retriever, stemmed, stopwords removed),
    plus the corpus vocabulary for typo-tolerant query terms."""

    def __init__(self, passages: list[StoredPassage], dictionary: Callable[[], set[str]] = set) -> None:
        corpus_words = {t for p in passages for t in tokens(p.text)}
        self.vocabulary = sorted(t for t in corpus_words if len(t) > 3)
        self._known = set(self.vocabulary)
        self._by_length: dict[int, list[str]] = {}
        for word in self.vocabulary:
            self._by_length.setdefault(len(word), []).append(word)
        self._dictionary = dictionary
        self._bm25 = None
        known = frozenset(corpus_words | dictionary())
        self.fields = {p.passage_id: field_words(p.text, p.meta.get("outlet"), known) for p in passages}
        self.roles = {p.passage_id: roles for p in passages if (roles := role_stems(p.text))}
        self.role_passages: dict[str, list[str]] = {}  # article -> its passages that play a role
        for p in passages:
            if p.passage_id in self.roles:
                self.role_passages.setdefault(p.doc_id, []).append(p.passage_id)
        if passages:
            import Stemmer
            from llama_index.core.schema import TextNode
            from llama_index.retrievers.bm25 import BM25Retriever

            nodes = [TextNode(id_=p.passage_id, text=f"{p.text} {self.fields[p.passage_id]}") for p in passages]
            self._bm25 = BM25Retriever(nodes=nodes, stemmer=Stemmer.Stemmer("english"), language="en",
                                       similarity_top_k=min(len(nodes), LEXICAL_DEPTH))

    def correct(self, question: str) -> str:
        """Replace unknown words (neither in the corpus nor the dictionary) by their closest corpus word.

        A real word the articles never use, one letter off a word they do use ("capitol" / "capital"),
        may be a slip too: the corpus word is added beside it."""
        def fix(m: re.Match[str]) -> str:
            word = m.group(0).lower()
            if len(word) <= 3 or word in STOPWORDS or word in self._known:
                return m.group(0)
            if word not in self._dictionary():
                close = difflib.get_close_matches(word, self.vocabulary, n=1, cutoff=0.8)
                return close[0] if close else m.group(0)
            same_length = self._by_length.get(len(word), ()) if len(word) >= SLIP_MIN_CHARS else ()
            slip = next((c for c in same_length if sum(a != b for a, b in zip(c, word)) == 1), None)
            return f"{m.group(0)} {slip}" if slip else m.group(0)

        return _WORD.sub(fix, normalize(question))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        if self._bm25 is None or not content_words(query):
            return []
        # The retriever's own top-k is fixed at build time (no shared state mutated per query).
        found = [(n.node.node_id, float(n.score or 0.0)) for n in self._bm25.retrieve(query) if (n.score or 0) > 0]
        return found[:k]


def _rrf(rankings: list[list[str]], weights: list[float]) -> dict[str, float]:
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, pid in enumerate(ranking):
            fused[pid] = fused.get(pid, 0.0) + weight / (RRF_K + rank + 1)
    return fused


def query_forms(question: str) -> list[str]:
    """What dense search embeds: the question and its keyword form (multi-query), since a long
    question's wording can bury its point ("How was the general dressed in the footage?")."""
    return list(dict.fromkeys([question, " ".join(content_words(question)) or question]))


def _shingles(text: str) -> set[str]:
    return {stem(t) for t in tokens(text)}


def _near_duplicate(a: StoredPassage, b: StoredPassage) -> bool:
    x, y = _shingles(a.text), _shingles(b.text)
    return bool(x and y) and len(x & y) / len(x | y) >= DUPLICATE_JACCARD


def _passages_before(passages: list[StoredPassage]) -> dict[str, str]:
    """Each passage's predecessor in its article (the context that "it" or "he" may refer to)."""
    ordered = sorted(passages, key=lambda p: (p.doc_id, p.start))
    return {cur.passage_id: prev.text for prev, cur in zip(ordered, ordered[1:]) if prev.doc_id == cur.doc_id}


class HybridRetriever:
    """Dense + lexical retrieval over one consistent snapshot of the passages."""

    def __init__(self, passages: list[StoredPassage], dense: Callable[[str, int], list[tuple[str, float]]],
                 dictionary: Callable[[], set[str]] = set, depth: int = 30, dense_weight: float = 1.0,
                 lexical_weight: float = 1.0) -> None:
        self.by_id = {p.passage_id: p for p in passages}
        self.before = _passages_before(passages)
        self.lexical = LexicalIndex(passages, dictionary)
        self._dense = dense
        self.depth = depth
        self.weights = [dense_weight, lexical_weight]

    def retrieve(self, question: str, k: int, keep_each: int = 0) -> list[Hit]:
        """The ``k`` best passages by fused rank, then any of each retriever's own ``keep_each``
        best not among them: a short byline is a strong BM25 match and a weak dense one. Then,
        if the question asks for a role (byline, dateline, photo credit), the lines playing it
        in the articles found: "June 22, 2021" matches no question about "the article on ...".
        """
        if not self.by_id:
            return []
        depth = max(self.depth, k)
        # Records written after this snapshot was taken are ignored until it is rebuilt.
        denses = [[(pid, s) for pid, s in self._dense(form, depth) if pid in self.by_id]
                  for form in query_forms(question)]
        lexical = self.lexical.search(question, depth)
        fused = _rrf([[pid for pid, _ in ranking] for ranking in (*denses, lexical)],
                     [self.weights[0]] * len(denses) + [self.weights[1]])
        dense = denses[0]
        # a passage's cosine to the question as asked, or to its keyword form if only that found it
        dense_of = {pid: s for ranking in reversed(denses) for pid, s in ranking}
        lexical_of = dict(lexical)
        sure = {pid for ranking in (dense, lexical) for pid, _ in ranking[:keep_each]}

        def hit(pid: str) -> Hit:
            return Hit(self.by_id[pid], fused.get(pid, 0.0), dense_of.get(pid, 0.0), lexical_of.get(pid, 0.0),
                       fields=self.lexical.fields[pid], before=self.before.get(pid, ""),
                       roles=self.lexical.roles.get(pid, frozenset()))

        hits: list[Hit] = []
        for pid in sorted(fused, key=fused.get, reverse=True):
            if len(hits) >= k and pid not in sure:
                continue
            passage = self.by_id[pid]
            twin = next((h for h in hits if _near_duplicate(h.passage, passage)), None)
            if twin is not None:  # a repeat within one article (a headline printed twice) is just dropped
                if twin.passage.doc_id != passage.doc_id:
                    twin.duplicates.append(passage)
                continue
            hits.append(hit(pid))
        asked = {stem(w) for w in content_words(question)}
        taken = {h.passage.passage_id for h in hits}
        for doc_id in dict.fromkeys(h.passage.doc_id for h in hits):
            hits += [hit(pid) for pid in self.lexical.role_passages.get(doc_id, ())
                     if pid not in taken and self.lexical.roles[pid] & asked]
        return hits
