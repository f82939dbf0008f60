"""Text helpers shared by indexing, retrieval, answering and evaluation: tokens, stems, sentences."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TRANSLATE = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"',
                            "–": "-", "—": "-", "‒": "-", "―": "-", "−": "-", "\xa0": " "})

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
nor not now of off on once only or other our ours ourselves out over own same she should so some such than
that the their theirs them themselves then there these they this those through to too under until up very
was we were what when where which while who whom why will with would you your yours yourself yourselves
whats what's who's whose many much kind sort exactly according say said says tell
""".split())

_TOKEN = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]*[A-Z0-9])")
# Words that end in a full stop without ending a sentence: titles and ranks ("Maj. Gen.", "Spc."),
# name and company suffixes, month and street abbreviations, initials and acronyms ("U.S.", "J."),
# and lower-case abbreviations ("a.m.", "approx.").
_TITLES = ("Mr|Mrs|Ms|Messrs|Dr|Prof|Rev|Hon|St|Sen|Sens|Rep|Reps|Gov|Lt|Col|Gen|Gens|Maj|Capt|Cmdr|Cdr|Adm|"
           "Brig|Sgt|Cpl|Pvt|Pfc|Spc|Ens|Det|Insp|Supt|Atty|Amb|Pres|Jr|Sr|No|Nos|Vol|Fig|Inc|Corp|Co|Ltd|Bros|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Ave|Blvd|Rd|Ft|Mt|vs|etc|approx|est|cf")
_ABBREVIATION = re.compile(rf"(?:\b(?:{_TITLES})|(?<!['’])\b[A-Za-z](?:\.[A-Za-z])*)\.$")


def fold(text: str) -> str:
    """ASCII quotes and dashes, character for character: offsets into the result index ``text``."""
    return text.translate(_TRANSLATE)


def normalize(text: str) -> str:
    """ASCII quotes and dashes, NFKC: how questions, gold answers and text are compared."""
    return unicodedata.normalize("NFKC", text).translate(_TRANSLATE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalize(text).lower())


def content_words(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in STOPWORDS]


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence in ``text``; ``text[start:end]`` is the sentence."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text, 0, m.start()):
            continue
        end = m.start() + len(text[m.start():m.end()].rstrip())
        spans.append((start, end))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return [(s, e) for s, e in spans if text[s:e].strip()]
