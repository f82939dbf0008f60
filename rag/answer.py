"""Extractive answering: choose the sentence that answers, cite it exactly, or abstain."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.abstention import Abstainer
from rag.models import Answer, Citation
from rag.semantics import Semantics
from rag.retrieve import Hit
from rag.text import content_words, normalize, sentence_spans, stem, tokens

ABSTAIN_TEXT = "The articles don't say. I found nothing in the indexed articles that answers: {question}"


_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
                 "fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens")

# (answer type, question cue, pattern an answering sentence contains beyond the question's own words)
_TYPES: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("duration", re.compile(r"\bhow long\b", re.I),
     re.compile(rf"\b(?:\d+|{_NUMBER_WORDS})[- ](?:second|minute|hour|day|week|month|year)s?\b", re.I)),
    ("number", re.compile(r"\bhow (?:many|much)\b|\bnumber of\b|\bwhat (?:percentage|share|proportion)\b", re.I),
     re.compile(rf"\b(?:\d[\d,.]*|{_NUMBER_WORDS})\b", re.I)),
    ("date", re.compile(r"\bwhen\b|\b(?:what|which) (?:exact )?(?:day|date|year|month|time|weekday)\b|"
                        r"\bday of the week\b|\bweekday\b", re.I),
     re.compile(rf"\b(?:{_WEEKDAYS}|{_MONTHS}|(?:19|20)\d\d|yesterday|today|tomorrow|last (?:week|month|year))\b",
                re.I)),
    ("reason", re.compile(r"\bwhy\b|\bwhat (?:reason|caused)\b", re.I),
     re.compile(r"\b(?:because|due to|as a result|for alleged|over|amid|after|since|so that|in order to)\b", re.I)),
    ("name", re.compile(r"\bwho(?:m|se)?\b|\bwhere\b|\b(?:which|what) (?:[a-z'-]+ ){0,2}(?:country|countries|agency|agencies|"
                        r"party|outlet|publication|broadcaster|newspaper|channel|group|organi[sz]ation|company|city|"
                        r"official|minister|person|leader|nation|state|network|station|wire|broadcaster|capital|"
                        r"rank|title|post)\b|\bwhat (?:is|was) the name\b|\bname of\b", re.I),
     re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of\s+|for\s+|and\s+)?[A-Z][\w'-]*)*\b")),
]


def answer_type(question: str) -> str | None:
    for name, cue, _ in _TYPES:
        if cue.search(question):
            return name
    return None


def type_evidence(kind: str | None, sentence: str, question_stems: set[str], idf: dict[str, float]) -> float:
    """How well the sentence holds an answer of the expected type that the question does not already
    contain: 1.0 for a date, number, duration or reason; for a name, the rarity (idf, relative to
    the rarest word) of its rarest new word, so that names all over the corpus count for little."""
    if kind is None:
        return 0.5
    pattern = next(p for name, _, p in _TYPES if name == kind)
    best = 0.0
    top = max(idf.values(), default=1.0)
    for m in pattern.finditer(sentence):
        if kind == "name" and m.start() == 0 and " " not in m.group(0):
            continue  # a capitalised sentence opener is not a name
        new = {stem(t) for t in tokens(m.group(0))} - question_stems
        if new and kind != "name":
            return 1.0
        if new:
            best = max(best, max(idf.get(t, top) for t in new) / top)
    return best


@dataclass
class Candidate:
    hit_rank: int
    start: int  # offsets into the article's raw text
    end: int
    text: str
    fused: float  # the passage's fused retrieval score, relative to the best passage
    similarity: float  # sentence-question cosine
    coverage: float  # idf-weighted share of the question's content words in the sentence
    soft_coverage: float  # the same, a word counting by its closest word in the sentence (cosine)
    type_match: float
    novelty: float  # share of the sentence's content words the question does not contain
    statement: float  # 1 for a full sentence, 0 for a headline, caption or byline fragment
    score: float = 0.0


# Sentence ranking weights: a listwise (softmax) logistic fit over the dev set's answerable
# questions, `python -m rag.calibrate --rank`; leave-one-out it picks a gold sentence 19/30 times.
WEIGHTS = {"fused": 0.59, "similarity": 1.4, "coverage": 2.47, "soft_coverage": 2.06, "type_match": 2.03,
           "statement": 0.2}
_STATEMENT = re.compile(r"[.!?][\"'”’)]*$")


def candidates(question: str, hits: list[Hit], idf: dict[str, float],
               semantics: Semantics | None = None) -> list[Candidate]:
    """Every sentence of the retrieved passages, scored as an answer to ``question``."""
    weights = {w: idf.get(stem(w), 1.0) for w in content_words(question)}
    stems = {stem(w): x for w, x in weights.items()}
    total = sum(stems.values()) or 1.0
    kind = answer_type(question)
    top = (hits[0].score if hits else 0.0) or 1.0
    out: list[Candidate] = []
    sentence_words: list[list[str]] = []
    for rank, hit in enumerate(hits):
        text = hit.passage.text
        for s, e in sentence_spans(text):
            sentence = text[s:e]
            words = list(dict.fromkeys(content_words(sentence)))
            stemmed = {stem(t) for t in words}
            coverage = sum(x for st, x in stems.items() if st in stemmed) / total
            novelty = len(stemmed - set(stems)) / (len(stemmed) or 1)
            statement = float(bool(_STATEMENT.search(sentence)) and len(words) >= 4)
            out.append(Candidate(rank, hit.passage.start + s, hit.passage.start + e, sentence, hit.score / top,
                                 0.0, coverage, coverage, type_evidence(kind, normalize(sentence), set(stems), idf),
                                 novelty, statement))
            sentence_words.append(words)
    if semantics and out:
        sims = semantics.similarity(question, [c.text for c in out])
        softs = semantics.soft_coverage(weights, sentence_words)
        for c, sim, soft in zip(out, sims, softs):
            c.similarity, c.soft_coverage = sim, soft
    for c in out:
        c.score = sum(w * getattr(c, name) for name, w in WEIGHTS.items())
    # A sentence that only restates the question (a headline echoing it, say) answers nothing.
    out.sort(key=lambda c: (c.novelty > 0, c.score), reverse=True)
    return out


def _citation(hit: Hit) -> Citation:
    p = hit.passage
    return Citation(**p.meta, quote=p.text, start=p.start, end=p.end, score=round(hit.score, 6),
                    also_in=[d.doc_id for d in hit.duplicates])


def features(best: Candidate, hits: list[Hit]) -> dict[str, float]:
    """Evidence that the best sentence answers the question (input to the abstention model)."""
    return {"dense": max(h.dense for h in hits), "similarity": best.similarity, "coverage": best.coverage,
            "soft_coverage": best.soft_coverage,
            "type_match": best.type_match, "novelty": best.novelty, "score": best.score}


def answer(question: str, hits: list[Hit], idf: dict[str, float], semantics: Semantics | None = None,
           abstainer: Abstainer | None = None) -> Answer:
    """Answer from the hits, or abstain when the evidence is too weak."""
    ranked = candidates(question, hits, idf, semantics)
    abstain = Answer(question=question, answer=ABSTAIN_TEXT.format(question=question), abstained=True,
                     confidence=0.0)
    if not ranked:
        return abstain
    best = ranked[0]
    abstainer = abstainer or Abstainer.default()
    conf = abstainer.probability(features(best, hits))
    first = hits[best.hit_rank]
    citations = [_citation(first)] + [_citation(h) for i, h in enumerate(hits) if i != best.hit_rank]
    if conf < abstainer.threshold:
        return abstain.model_copy(update={"confidence": round(conf, 4), "citations": citations})
    return Answer(question=question, answer=best.text, abstained=False, confidence=round(conf, 4),
                  citations=citations)
