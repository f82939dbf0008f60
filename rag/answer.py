"""Extractive answering: choose the sentence that answers, cite it exactly, or abstain."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from index.boilerplate import content_lines
from index.text import STOPWORDS, content_words, fold, sentence_spans, stem, tokens
from rag.abstention import Abstainer
from rag.fields import role_stems
from rag.models import MAX_ANSWER_CHARS, Answer, Citation
from rag.retrieve import Hit
from rag.semantics import Semantics

ABSTAIN_TEXT = "The articles don't say. I found nothing in the indexed articles that answers: {question}"


_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE_WORDS = frozenset(f"{_WEEKDAYS}|{_MONTHS}|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec".split("|"))
_TIME_UNITS = "second|minute|hour|day|week|month|year"
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
                 "fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens")
_NAME_NOUNS = ("country|countries|agency|agencies|party|outlet|publication|broadcaster|newspaper|channel|group|"
               "organi[sz]ation|company|city|official|minister|person|leader|nation|network|station|wire|capital|"
               "rank|post")
_AUXILIARY = "did|does|do|is|are|was|were|has|have|had|will|would|can|could|should|might|may|must"
_CAPITALISED_MONTHS = "|".join(w.capitalize() for w in _MONTHS.split("|"))
_CAPITALISED_DATES = "|".join(w.capitalize() for w in _WEEKDAYS.split("|")) + "|" + _CAPITALISED_MONTHS

_NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:of\s+|for\s+|and\s+)?[A-Z][\w'-]*)*\b")

# (answer type, question cue, pattern an answering phrase matches; it must add words the question lacks)
_TYPES: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("duration", re.compile(r"\bhow long\b", re.I),
     re.compile(rf"\b(?:\d+|{_NUMBER_WORDS})[- ](?:{_TIME_UNITS})s?\b", re.I)),
    # a count, not a modifier ("15-member council", but "three-day"); an age may be an ordinal ("76th birthday")
    ("number", re.compile(r"\bhow (?:many|much|old)\b|\bnumber of\b|\bwhat (?:percentage|share|proportion)\b", re.I),
     re.compile(rf"\b(?:\d[\d,.]*(?:st|nd|rd|th)?|{_NUMBER_WORDS})\b(?!-(?!{_TIME_UNITS})[a-z])", re.I)),
    # "what date" wants a calendar date; a weekday answers "when" and "what day" only
    ("calendar date", re.compile(r"\b(?:what|which) (?:exact )?date\b", re.I),
     re.compile(rf"\b(?:(?:{_CAPITALISED_MONTHS})(?: \d{{1,2}}\b)?|\d{{1,2}} (?:{_CAPITALISED_MONTHS})|"
                r"(?:19|20)\d\d)\b")),
    ("date", re.compile(r"\bwhen\b|\b(?:what|which) (?:exact )?(?:day|date|year|month|time|weekday)\b|"
                        r"\bday of the week\b|\bweekday\b", re.I),
     re.compile(rf"\b(?:(?:{_CAPITALISED_DATES})(?: \d{{1,2}}\b)?|(?:19|20)\d\d|"
                r"(?i:yesterday|today|tomorrow|last (?:week|month|year)))\b")),
    ("reason", re.compile(r"\bwhy\b|\bwhat (?:reason|caused)\b", re.I),
     re.compile(r"\b(?:because|due to|as a result|for alleged|over|amid|after|since|so that|in order to)\b", re.I)),
    # "which agency", "the name of": only a name answers ("what did the minister say" asks no name).
    ("name", re.compile(rf"\b(?:which|what) (?!(?:{_AUXILIARY})\b)(?:[a-z'-]+ ){{0,2}}(?:{_NAME_NOUNS})s?\b|"
                        r"\b(?:what|which)\b.*\b(?:name|rank|called|known as)\b|\bname of\b", re.I),
     _NAME),
    # "who", "where": a name most often, but "rights activists" answers "who" too.
    ("who", re.compile(r"\bwho(?:m|se)?\b|\bwhere\b", re.I), _NAME),
]
NAMED = "name"  # the one type whose absence from the best sentence means the articles don't say
_PATTERNS = {name: pattern for name, _, pattern in _TYPES}
_WORD = re.compile(r"[A-Za-z0-9]+")
NO_TYPE = 0.5  # type evidence when the question asks for no particular type
_PROPER = re.compile(r"(?<![.?!:] )(?<!^)\b(?:[A-Z][A-Za-z]{2,}|\d[\d,.]*\d|\d)\b")  # "Russian-built": "Russian"


def _top_idf(idf: dict[str, float]) -> float:
    """The highest idf (a word in one passage): read off the live index, else a plain dict's values."""
    return getattr(idf, "top", None) or max(idf.values(), default=1.0)


def missing_name(question: str, context: str, idf: dict[str, float]) -> float:
    """Rarity (its idf over the corpus's highest, 0..1) of the rarest name or number in the question
    (a capitalised word not opening a sentence) that the answer's context lacks; 0 if none. A name
    no article contains is as rare as can be: "Who won the Nobel Peace Prize in 1991?"."""
    have = {stem(t) for t in tokens(context)}
    top = _top_idf(idf)
    rarities = [max(idf.get(stem(t), top) for t in words) / top
                for words in (tokens(m.group(0)) for m in _PROPER.finditer(question.strip()))
                if not all(_mentioned(stem(t), have) for t in words)]
    return max(rarities, default=0.0)


def _mentioned(word: str, have: set[str]) -> bool:
    """``word``, or a word of 4+ letters that begins it or that it begins: "Russia" mentions "Russian"."""
    return word in have or any(len(h) >= 4 and len(word) >= 4 and (word.startswith(h) or h.startswith(word))
                               for h in have)


def answer_type(question: str) -> str | None:
    for name, cue, _ in _TYPES:
        if cue.search(question):
            return name
    return None


def _trim_name(sentence: str, start: int, end: int) -> tuple[int, int, bool]:
    """Drop function and date words from a capitalised run's ends ("The", "Since February").
    The flag says whether what is left is one word opening the sentence: "Belarus voted" is a name,
    "Moreover, ..." is not, and capitals alone cannot tell them apart."""
    words = list(_WORD.finditer(sentence, start, end))
    junk = lambda m: m.group(0).lower() in STOPWORDS or m.group(0).lower() in _DATE_WORDS  # noqa: E731
    while words and junk(words[0]):
        words.pop(0)
    while words and junk(words[-1]):
        words.pop()
    if not words:
        return start, start, False
    opener = len(words) == 1 and not sentence[:words[0].start()].strip(" \"'(*#[")
    return words[0].start(), words[-1].end(), opener


def _headline(text: str) -> bool:
    """Title Case Without A Full Stop: a headline, whose capitals say nothing about names."""
    long = re.findall(r"[A-Za-z]{4,}", text)
    return (len(long) >= 3 and sum(w[0].isupper() for w in long) >= 0.75 * len(long)
            and not _STATEMENT.search(text.rstrip()))


def answer_span(kind: str | None, sentence: str, question_stems: set[str], idf: dict[str, float],
                top: float | None = None, credit: bool = False) -> tuple[float, tuple[int, int] | None, float]:
    """The phrase of the expected type that adds to the question: ``(strength, span, nearness)``.

    Strength (0..1) is 1 for a date, number, duration or reason, and for a name the rarity
    (idf over the highest, ``top``) of its rarest new word, so that names found all over the
    corpus count for little; half that for a lone word opening the sentence. Nearness is the
    strength discounted by the phrase's distance from the nearest question word (halved at about
    five words): an answer sits next to what was asked. The span, offsets in ``sentence`` of the
    nearest phrase's new words, is the highlight. In a ``credit`` line (a byline, a photo credit)
    capitals are names even without a full stop ("SOURCE: VADIM SAVITSKY / TASS").
    """
    if kind is None:
        return NO_TYPE, None, NO_TYPE
    text = fold(sentence)
    named = _PATTERNS[kind] is _NAME
    if named and not credit and _headline(text):
        return 0.0, None, 0.0
    words = [(m.start(), m.end(), stem(m.group(0).lower())) for m in _WORD.finditer(text)]
    top = top or _top_idf(idf)
    strength, nearness, span = 0.0, 0.0, None
    for m in _PATTERNS[kind].finditer(text):
        start, end, opener = _trim_name(text, *m.span()) if named else (*m.span(), False)
        new = [i for i, (s, e, st) in enumerate(words)
               if s >= start and e <= end and st not in question_stems and e - s > 1]
        if not new:
            continue
        value = max(idf.get(words[i][2], top) for i in new) / top * (0.5 if opener else 1.0) if named else 1.0
        gap = min((abs(i - j) for i in new for j, (_, _, st) in enumerate(words)
                   if st in question_stems and not new[0] <= j <= new[-1]), default=None)
        near = value * (0.5 if gap is None else 1 / (1 + (gap - 1) / 5))
        strength = max(strength, value)
        if near > nearness:
            nearness, span = near, (words[new[0]][0], words[new[-1]][1])
    return strength, span, nearness


@dataclass
class Candidate:
    hit_rank: int
    start: int  # offsets into the article's raw text
    end: int
    text: str
    fused: float  # the passage's fused retrieval score, relative to the best passage
    passage_dense: float  # the passage's cosine to the question, relative to the best passage's
    similarity: float  # sentence-question cosine
    coverage: float  # idf-weighted share of the question's content words in the sentence
    soft_coverage: float  # the same, a word counting by its closest word in the sentence (cosine)
    type_match: float  # strength of the answer phrase of the asked-for type (answer_span)
    nearness: float  # the same, discounted by its distance from the question's words
    name_nearness: float  # nearness when a name is asked for ("Only one country, Belarus, voted"), else 0
    novelty: float  # share of the sentence's content words the question does not contain
    statement: float  # 1 for a full sentence, 0 for a headline, caption or byline fragment
    span: tuple[int, int] | None = None  # the answer phrase's offsets in ``text``
    score: float = 0.0


# Sentence ranking weights: a listwise (softmax) logistic fit over the answerable questions of the
# dev set and tests/data/train.jsonl, `python -m rag.calibrate --rank`. Held out, they put a gold
# sentence first for 66 of the 74 questions whose pool holds one (leave-one-out); fitted on the
# other set, 27 of 28 on dev and 39 of 46 on train.
WEIGHTS = {"passage_dense": 0.66, "fused": 0.08, "similarity": 0.59, "coverage": 3.17, "soft_coverage": 2.03,
           "type_match": 1.77, "statement": -0.31, "name_nearness": 1.02}
_STATEMENT = re.compile(r"[.!?][\"'”’)]*$")


# Sentence and word vectors are read (and, where the index lacks them, embedded) only for the SHORTLIST
# candidates that the other evidence ranks best; the rest are scored without them. 12 changed no answer on the
# NewsQA dev, seed dev and train sets and cut the NewsQA p50 from 128 to 83 ms when every vector was embedded
# at question time (cold processes, same machine).
SHORTLIST = 12


def _score(c: Candidate) -> float:
    return sum(w * getattr(c, name) for name, w in WEIGHTS.items())


def candidates(question: str, hits: list[Hit], idf: dict[str, float],
               semantics: Semantics | None = None) -> list[Candidate]:
    """Every sentence of the retrieved passages, scored as an answer to ``question``."""
    weights = {w: idf.get(stem(w), 1.0) for w in content_words(question)}
    stems = {stem(w): x for w, x in weights.items()}
    total = sum(stems.values()) or 1.0
    kind = answer_type(question)
    named = kind is not None and _PATTERNS[kind] is _NAME  # where a name sits says more than a date's place
    top = (hits[0].score if hits else 0.0) or 1.0
    top_idf = _top_idf(idf)
    top_dense = max((h.dense for h in hits), default=0.0) or 1.0
    out: list[Candidate] = []
    sentence_words: list[list[str]] = []
    located: list[tuple[str, tuple[int, int]]] = []  # each sentence's passage and offsets in it
    for rank, hit in enumerate(hits):
        text = hit.passage.text
        fields = content_words(hit.fields)  # the passage's outlet and role count as its words too
        asked_role = hit.roles & stems.keys()
        for s, e in sentence_spans(text):
            sentence = text[s:e]
            words = list(dict.fromkeys(content_words(sentence)))
            stemmed = {stem(t) for t in words}
            own = fields
            if asked_role:  # the role asked for is played by a line, not by the caption beside it
                own = [w for w in fields if stem(w) not in hit.roles]
                if role_stems(sentence) & asked_role:  # the line is named by its article and passage
                    own = fields + content_words(f"{hit.passage.meta.get('title') or ''} {text}")
            covered = stemmed | {stem(t) for t in own}
            coverage = sum(x for st, x in stems.items() if st in covered) / total
            novelty = len(stemmed - set(stems)) / (len(stemmed) or 1)
            statement = float(bool(_STATEMENT.search(sentence)) and len(words) >= 4)
            strength, span, near = answer_span(kind, sentence, set(stems), idf, top_idf, bool(hit.roles))
            out.append(Candidate(rank, hit.passage.start + s, hit.passage.start + e, sentence, hit.score / top,
                                 hit.dense / top_dense, 0.0, coverage, coverage, strength, near,
                                 near if named else 0.0, novelty, statement, span))
            sentence_words.append(list(dict.fromkeys(words + own)))
            located.append((hit.passage.passage_id, (s, e)))
    if semantics and out:
        short = sorted(range(len(out)), key=lambda i: _score(out[i]), reverse=True)[:SHORTLIST]
        sims = semantics.similarity(question, [(located[i], out[i].text) for i in short])
        softs = semantics.soft_coverage(weights, [sentence_words[i] for i in short])
        for i, sim, soft in zip(short, sims, softs):
            out[i].similarity, out[i].soft_coverage = sim, soft
    for c in out:
        c.score = _score(c)
    # A sentence that only restates the question (a headline echoing it, say) answers nothing.
    out.sort(key=lambda c: (c.novelty > 0, c.score), reverse=True)
    return out


def ruled_out(question: str, best: Candidate) -> bool:
    """Plain evidence that the articles don't answer, whatever the model's confidence: only a name
    answers the question and the best sentence has none."""
    return best.type_match == 0.0 and answer_type(question) == NAMED


def _citation(hit: Hit) -> Citation:
    p = hit.passage
    return Citation(**p.meta, quote=p.text, start=p.start, end=p.end, score=round(hit.score, 6),
                    also_in=[d.doc_id for d in hit.duplicates])


def features(question: str, best: Candidate, hits: list[Hit], idf: dict[str, float],
             more: str = "") -> dict[str, float]:
    """Evidence that the best sentence answers the question: what the abstention model reads.
    The rare-name rule's context is the answer's passage, the one before it, and ``more`` (see
    ``read_on``)."""
    hit = hits[best.hit_rank]
    context = f"{hit.passage.meta.get('title') or ''} {hit.before} {hit.passage.text} {more} {hit.fields}"
    return {"dense": max(h.dense for h in hits), "soft_coverage": best.soft_coverage, "nearness": best.nearness,
            "missing_name": missing_name(question, context, idf)}


def answer(question: str, hits: list[Hit], idf: dict[str, float], semantics: Semantics | None = None,
           abstainer: Abstainer | None = None, asked: str | None = None,
           article: Callable[[str], str | None] | None = None) -> Answer:
    """Answer from the hits, or abstain when the evidence is too weak.

    ``asked`` is the question as the user typed it, for the reply, when ``question`` is its
    typo-corrected form. ``article`` gives an article's text as indexed: with it the answer is the
    best sentence and the one after it (see ``_with_next``)."""
    ranked = candidates(question, hits, idf, semantics)
    asked = asked or question
    abstain = Answer(question=asked, answer=ABSTAIN_TEXT.format(question=asked), abstained=True, confidence=0.0)
    if not ranked:
        return abstain
    best = ranked[0]
    first = hits[best.hit_rank]
    body = article(first.passage.doc_id) if article else None
    joined, more = read_on(best, body)
    text, span = joined[0] if joined else best.text, best.span
    if joined:
        span = answer_span(answer_type(question), text, {stem(w) for w in content_words(question)}, idf,
                           credit=bool(first.roles))[1] or span
    abstainer = abstainer or Abstainer.default()
    conf = 0.0 if ruled_out(question, best) else abstainer.probability(features(question, best, hits, idf, more))
    citations = [_citation(first)] + [_citation(h) for i, h in enumerate(hits) if i != best.hit_rank]
    if conf < abstainer.threshold:
        return abstain.model_copy(update={"confidence": round(conf, 4), "citations": citations})
    if joined and joined[1] > citations[0].end:  # the first citation holds the whole answer
        end = joined[1]
        citations[0] = citations[0].model_copy(update={"end": end, "quote": body[citations[0].start:end]})
    return Answer(question=asked, answer=text, abstained=False, confidence=round(conf, 4),
                  citations=citations, highlight=list(span) if span else None)


LEAD_LINES = 2  # the article's lead: its first two content lines (a headline and a lead sentence, or two)


def read_on(best: Candidate, body: str | None) -> tuple[tuple[str, int] | None, str]:
    """What the article (``body``: its text as indexed) adds to the best sentence: the answer with the
    next sentence (``_with_next``), and what the rare-name rule reads beyond the passage, that next
    sentence and the article's lead, where a story names its subject."""
    if not body:
        return None, ""
    lines = content_lines(body)
    joined = _with_next(best, body, lines)
    lead = " ".join(body[s:e] for s, e in lines[:LEAD_LINES])
    return joined, f"{joined[0][len(best.text):] if joined else ''} {lead}"


def _with_next(best: Candidate, text: str, lines: list[tuple[int, int]]) -> tuple[str, int] | None:
    """The best sentence and the next one of its article, verbatim, with the offset where they end.
    News often names what was asked about in one sentence and gives the answer in the next
    ("Police are investigating the theft of a lifeboat from the harbour." / "The Grey Heron was built in 1987.").
    None when the best sentence answers by itself (a phrase of the asked-for type right beside the
    question's words: "140 traders signed up"), is no full sentence, or the pair would pass
    MAX_ANSWER_CHARS or reach into page furniture (outside ``lines``, the article's content lines)."""
    if text[best.start:best.end] != best.text:
        return None
    if best.nearness >= 1.0 or not best.statement:
        return None  # it holds the asked-for phrase beside the question's words; or a byline, a dateline
    rest = text[best.end:best.start + MAX_ANSWER_CHARS + 1]
    at = best.end + len(rest) - len(rest.lstrip())
    following = sentence_spans(rest.lstrip())
    if not following:
        return None
    start, end = at + following[0][0], at + following[0][1]
    if end - best.start > MAX_ANSWER_CHARS or not any(s <= start and end <= e for s, e in lines):
        return None  # too long, or page furniture the passages leave out ("Watch the video »")
    if not _STATEMENT.search(text[start:end]):
        return None
    return text[best.start:end], end
