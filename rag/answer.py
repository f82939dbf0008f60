"""Extractive answering: choose the sentence that answers, cite it exactly, or abstain."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rag.models import Answer, Citation
from rag.retrieve import Hit
from rag.text import content_words, normalize, sentence_spans, stem, tokens

ABSTAIN_TEXT = "The articles don't say. I found nothing in the indexed articles that answers: {question}"

_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
                 "fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens")

# Question cue -> pattern an answering sentence must contain (beyond the question's own words).
_TYPES: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("duration", re.compile(r"\bhow long\b", re.I),
     re.compile(rf"\b(?:\d+|{_NUMBER_WORDS})[- ](?:second|minute|hour|day|week|month|year)s?\b", re.I)),
    ("number", re.compile(r"\bhow (?:many|much)\b|\bnumber of\b|\bwhat (?:percentage|share|proportion)\b", re.I),
     re.compile(rf"\b(?:\d[\d,.]*|{_NUMBER_WORDS})\b", re.I)),
    ("date", re.compile(rf"\bwhen\b|\bwhat (?:day|date|year|month|time)\b|\bwhich (?:day|date|year|month)\b|"
                        rf"\bday of the week\b|\bweekday\b|\bwhat exact date\b", re.I),
     re.compile(rf"\b(?:{_WEEKDAYS}|{_MONTHS}|(?:19|20)\d\d|yesterday|today|tomorrow|last (?:week|month|year))\b",
                re.I)),
    ("reason", re.compile(r"\bwhy\b|\bwhat (?:reason|caused)\b", re.I),
     re.compile(r"\b(?:because|due to|as a result|for alleged|over|amid|after|since|so that|in order to)\b", re.I)),
    ("name", re.compile(r"\bwho(?:m|se)?\b|\bwhich (?:[a-z-]+ ){0,2}(?:country|countries|agency|agencies|party|"
                        r"outlet|publication|broadcaster|newspaper|channel|group|organi[sz]ation|company|city|official|"
                        r"minister|person|leader|nation|state|network|station|wire)\b|\bwhat (?:is|was) the name\b|"
                        r"\bname of\b", re.I),
     re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of\s+)?[A-Z][\w'-]*)*\b")),
]


def answer_type(question: str) -> str | None:
    for name, cue, _ in _TYPES:
        if cue.search(question):
            return name
    return None


def _type_evidence(kind: str | None, sentence: str, question_stems: set[str]) -> float:
    """1.0 when the sentence holds an answer of the expected type not already in the question."""
    if kind is None:
        return 0.5
    pattern = next(p for name, _, p in _TYPES if name == kind)
    for m in pattern.finditer(sentence):
        if kind == "name" and m.start() == 0 and " " not in m.group(0):
            continue  # a capitalised sentence opener is not a name
        if {stem(t) for t in tokens(m.group(0))} - question_stems:
            return 1.0
    return 0.0


@dataclass
class Candidate:
    hit_rank: int
    start: int  # offsets into the article's raw text
    end: int
    text: str
    coverage: float
    type_match: float
    score: float


def _idf_weights(words: list[str], idf: dict[str, float]) -> dict[str, float]:
    return {stem(w): idf.get(stem(w), 1.0) for w in words}


def candidates(question: str, hits: list[Hit], idf: dict[str, float]) -> list[Candidate]:
    """Every sentence of the retrieved passages, scored as an answer to ``question``."""
    weights = _idf_weights(content_words(question), idf)
    total = sum(weights.values()) or 1.0
    kind = answer_type(question)
    top = hits[0].score if hits else 1.0
    out: list[Candidate] = []
    for rank, hit in enumerate(hits):
        text = hit.passage.text
        for s, e in sentence_spans(text):
            sentence = text[s:e]
            stems = {stem(t) for t in tokens(sentence)}
            coverage = sum(w for st, w in weights.items() if st in stems) / total
            type_match = _type_evidence(kind, normalize(sentence), set(weights))
            score = 0.45 * hit.score / top + 0.35 * coverage + 0.2 * type_match - 0.02 * rank
            out.append(Candidate(rank, hit.passage.start + s, hit.passage.start + e, sentence,
                                 coverage, type_match, score))
    out.sort(key=lambda c: c.score, reverse=True)
    return out


def _citation(hit: Hit) -> Citation:
    p = hit.passage
    return Citation(doc_id=p.doc_id, title=p.meta.get("title") or p.doc_id, outlet=p.meta.get("outlet") or "unknown",
                    date=p.meta.get("date"), url=p.meta.get("url"), quote=p.text, start=p.start, end=p.end,
                    score=round(hit.score, 6), also_in=[d.doc_id for d in hit.duplicates])


def confidence(best: Candidate, hits: list[Hit]) -> float:
    """Probability-like score from the answer's evidence (see rag.calibrate for the fit)."""
    dense = max(h.dense for h in hits)
    z = -6.0 + 6.0 * dense + 3.0 * best.coverage + 1.5 * best.type_match
    return 1.0 / (1.0 + math.exp(-z))


def answer(question: str, hits: list[Hit], idf: dict[str, float], threshold: float = 0.5) -> Answer:
    """Answer from the hits, or abstain when the evidence is too weak."""
    ranked = candidates(question, hits, idf)
    if not ranked:
        return Answer(question=question, answer=ABSTAIN_TEXT.format(question=question), abstained=True,
                      confidence=0.0, citations=[])
    best = ranked[0]
    conf = confidence(best, hits)
    first = hits[best.hit_rank]
    citations = [_citation(first)] + [_citation(h) for i, h in enumerate(hits) if i != best.hit_rank]
    if conf < threshold:
        return Answer(question=question, answer=ABSTAIN_TEXT.format(question=question), abstained=True,
                      confidence=round(conf, 4), citations=citations)
    return Answer(question=question, answer=best.text, abstained=False, confidence=round(conf, 4),
                  citations=citations)
