"""Hybrid retrieval: dense (Chroma; the question and its keyword form) + BM25 (llama-index; passage
text plus outlet and role words), reciprocal-rank fused, with near-duplicate passages (republished
wire copy) folded into one hit."""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from index.store import StoredPassage
from index.text import STOPWORDS, content_words, normalize, stem, tokens
from rag.bm25 import BM25
from rag.fields import field_words, role_stems
from rag.models import Filters

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


_BM25_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_BM25_STOPWORDS = frozenset("a an and are as at be but by for if in into is it no not of on or such that the their "
                            "then there these they this to was will with".split())  # bm25s's English list


def bm25_terms(text: str) -> list[str]:
    """BM25's view of a text: words of two letters or more, stopwords out, stemmed (as bm25s does)."""
    return [stem(w) for w in _BM25_TOKEN.findall(text.lower()) if w not in _BM25_STOPWORDS]


class LexicalIndex:
    """The passages held in memory: BM25 (rag.bm25, incremental) over each passage's text plus its outlet
    and role words, document frequencies for idf, and the corpus vocabulary for typo-tolerant query terms.

    Articles are added and removed one at a time, so an index change costs what changed, not the corpus.
    """

    def __init__(self, passages: list[StoredPassage] = (), dictionary: Callable[[], set[str]] = set) -> None:
        self._dictionary = dictionary
        self._known_words: frozenset[str] | None = None
        self.by_id: dict[str, StoredPassage] = {}
        self.docs: dict[str, list[str]] = {}  # article -> its passage ids in text order
        self.fields: dict[str, str] = {}
        self.roles: dict[str, frozenset[str]] = {}
        self.role_passages: dict[str, list[str]] = {}  # article -> its passages that play a role
        self.df: Counter[str] = Counter()  # stem -> passages holding it (text and fields)
        self._words: Counter[str] = Counter()  # corpus words of 4+ letters -> passages holding them
        self._by_shape: dict[tuple[str, int], set[str]] = {}  # (first letter, length) -> corpus words
        self._bm25 = BM25()
        by_doc: dict[str, list[StoredPassage]] = {}
        for p in passages:
            by_doc.setdefault(p.doc_id, []).append(p)
        for doc_id, doc_passages in by_doc.items():
            self.add(doc_id, doc_passages)

    def __len__(self) -> int:
        return len(self.by_id)

    def __getstate__(self) -> dict:
        """What is saved (rag.lexical_cache): the index, not the dictionary, which the model gives. The
        passages go as plain tuples, which load about five times faster than as objects."""
        passages = [(p.passage_id, p.doc_id, p.start, p.end, p.text, p.meta) for p in self.by_id.values()]
        return {**self.__dict__, "_dictionary": set, "_known_words": None, "by_id": passages}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.by_id = {row[0]: StoredPassage(*row) for row in state["by_id"]}

    def attach(self, dictionary: Callable[[], set[str]]) -> None:
        """Give a loaded index its dictionary back."""
        self._dictionary, self._known_words = dictionary, None

    def _known(self) -> frozenset[str]:
        if self._known_words is None:
            self._known_words = frozenset(self._dictionary())
        return self._known_words

    def add(self, doc_id: str, passages: list[StoredPassage]) -> None:
        """Index one article's passages (replacing what it had)."""
        self.remove(doc_id)
        ordered = sorted(passages, key=lambda p: p.start)
        self.docs[doc_id] = [p.passage_id for p in ordered]
        for p in ordered:
            pid = p.passage_id
            self.by_id[pid] = p
            self.fields[pid] = fields = field_words(p.text, p.meta.get("outlet"), self._known())
            if roles := role_stems(p.text):
                self.roles[pid] = roles
                self.role_passages.setdefault(doc_id, []).append(pid)
            self._bm25.add(pid, bm25_terms(f"{p.text} {fields}"))
            self.df.update({stem(t) for t in tokens(f"{p.text} {fields}")})
            for word in {t for t in tokens(p.text) if len(t) > 3}:
                if not self._words[word]:
                    self._by_shape.setdefault((word[0], len(word)), set()).add(word)
                self._words[word] += 1

    def remove(self, doc_id: str) -> None:
        for pid in self.docs.pop(doc_id, ()):
            p = self.by_id.pop(pid)
            fields = self.fields.pop(pid)
            self.roles.pop(pid, None)
            self._bm25.remove(pid)
            self.df.subtract({stem(t) for t in tokens(f"{p.text} {fields}")})
            for word in {t for t in tokens(p.text) if len(t) > 3}:
                self._words[word] -= 1
                if not self._words[word]:
                    del self._words[word]
                    self._by_shape[(word[0], len(word))].discard(word)
        self.role_passages.pop(doc_id, None)

    def before(self, passage: StoredPassage) -> str:
        """The article's passage before this one (the context that "it" or "he" may refer to)."""
        order = self.docs.get(passage.doc_id, [])
        i = order.index(passage.passage_id) if passage.passage_id in order else 0
        return self.by_id[order[i - 1]].text if i > 0 else ""

    def matching(self, filters: Filters) -> set[str]:
        """The articles a filter admits (by id, outlet and ISO date range)."""
        outlets = {o.lower() for o in filters.outlets or ()}
        out = set()
        for doc_id in filters.doc_ids or self.docs:
            if doc_id not in self.docs:
                continue
            meta = self.by_id[self.docs[doc_id][0]].meta if self.docs[doc_id] else {}
            date = meta.get("date") or ""
            if outlets and (meta.get("outlet") or "").lower() not in outlets:
                continue
            if filters.date_from and not (date and date[:10] >= filters.date_from):
                continue
            if filters.date_to and not (date and date[:10] <= filters.date_to):
                continue
            out.add(doc_id)
        return out

    def idf(self) -> "Idf":
        return Idf(self.df, len(self.by_id))

    def _similar(self, word: str, spread: int) -> list[str]:
        """Corpus words with the same first letter and a length within ``spread`` (typo candidates)."""
        return sorted(w for n in range(len(word) - spread, len(word) + spread + 1)
                      for w in self._by_shape.get((word[0], n), ()))

    def correct(self, question: str) -> str:
        """Replace unknown words (neither in the corpus nor the dictionary) by their closest corpus word.

        A real word the articles never use, one letter off a word they do use ("capitol" / "capital"),
        may be a slip too: the corpus word is added beside it."""
        def fix(m: re.Match[str]) -> str:
            word = m.group(0).lower()
            if len(word) <= 3 or word in STOPWORDS or self._words[word]:
                return m.group(0)
            if word not in self._known():
                close = difflib.get_close_matches(word, self._similar(word, 2), n=1, cutoff=0.8)
                return close[0] if close else m.group(0)
            same_length = self._similar(word, 0) if len(word) >= SLIP_MIN_CHARS else ()
            slip = next((c for c in same_length if sum(a != b for a, b in zip(c, word)) == 1), None)
            return f"{m.group(0)} {slip}" if slip else m.group(0)

        return _WORD.sub(fix, normalize(question))

    def search(self, query: str, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        if not content_words(query):
            return []
        return self._bm25.search(bm25_terms(query), k, allowed)


class Idf(Mapping[str, float]):
    """Inverse document frequency over the passages, ``log(1 + n / df)``, read off live counts."""

    def __init__(self, df: Counter[str], n: int) -> None:
        self._df, self._n = df, max(n, 1)
        self.top = math.log(1 + self._n)  # a word in one passage: the highest idf there is

    def __getitem__(self, term: str) -> float:
        df = self._df.get(term, 0)
        if df <= 0:
            raise KeyError(term)
        return math.log(1 + self._n / df)

    def __iter__(self) -> Iterator[str]:
        return (t for t, c in self._df.items() if c > 0)

    def __len__(self) -> int:
        return sum(1 for c in self._df.values() if c > 0)


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


@lru_cache(maxsize=4096)  # a passage is compared with each hit ranked above it, question after question
def _shingles(text: str) -> frozenset[str]:
    return frozenset(stem(t) for t in tokens(text))


def _near_duplicate(a: StoredPassage, b: StoredPassage) -> bool:
    x, y = _shingles(a.text), _shingles(b.text)
    return bool(x and y) and len(x & y) / len(x | y) >= DUPLICATE_JACCARD


class HybridRetriever:
    """Dense + lexical retrieval over the passages held in a :class:`LexicalIndex`.

    ``dense(forms, k, where)`` searches the vectors: a ranking of ``(passage_id, cosine)`` per query form."""

    def __init__(self, passages: "LexicalIndex | list[StoredPassage]",
                 dense: Callable[..., list[list[tuple[str, float]]]],
                 dictionary: Callable[[], set[str]] = set, depth: int = 30, dense_weight: float = 1.0,
                 lexical_weight: float = 1.0) -> None:
        self.lexical = passages if isinstance(passages, LexicalIndex) else LexicalIndex(passages, dictionary)
        self._dense = dense
        self.depth = depth
        self.weights = [dense_weight, lexical_weight]

    @property
    def by_id(self) -> dict[str, StoredPassage]:
        return self.lexical.by_id

    def retrieve(self, question: str, k: int, keep_each: int = 0, filters: Filters | None = None) -> list[Hit]:
        """The ``k`` best passages by fused rank, then any of each retriever's own ``keep_each``
        best not among them: a short byline is a strong BM25 match and a weak dense one, and a passage
        that only BM25 finds ranks below everything the two dense searches found. Then, if the
        question asks for a role (byline, dateline, photo credit), the lines playing it in the articles found:
        "June 22, 2021" matches no question about "the article on ...". ``filters`` limit every
        search to the chosen articles.
        """
        if not self.by_id:
            return []
        docs = self.lexical.matching(filters) if filters is not None and not filters.empty() else None
        if docs is not None and not docs:
            return []
        where = {"doc_id": {"$in": sorted(docs)}} if docs is not None else None
        allowed = {pid for d in docs for pid in self.lexical.docs[d]} if docs is not None else None
        depth = max(self.depth, k)
        # Records written after the in-memory index was last synced are ignored until then.
        denses = [[(pid, s) for pid, s in ranking if pid in self.by_id]
                  for ranking in self._dense(query_forms(question), depth, where)]
        lexical = self.lexical.search(question, depth, allowed)
        fused = _rrf([[pid for pid, _ in ranking] for ranking in (*denses, lexical)],
                     [self.weights[0]] * len(denses) + [self.weights[1]])
        # a passage's cosine to the question as asked, or to its keyword form if only that found it
        dense_of = {pid: s for ranking in reversed(denses) for pid, s in ranking}
        lexical_of = dict(lexical)
        sure = {pid for ranking in (denses[0], lexical) for pid, _ in ranking[:keep_each]}

        def hit(pid: str) -> Hit:
            p = self.by_id[pid]
            return Hit(p, fused.get(pid, 0.0), dense_of.get(pid, 0.0),
                       lexical_of.get(pid, 0.0), fields=self.lexical.fields[pid], before=self.lexical.before(p),
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
