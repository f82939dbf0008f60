"""Words a passage stands for beyond its text: its article's outlet and its role in the article.

A question can name the outlet ("the Moscow Times story") or a part of a news page
("byline", "photo credit") that the passage's own words never say. These words are
added to the passage's lexical (BM25) text and count towards term coverage; the
passage text itself, and so every citation, is unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

# (role words, what a passage in that role looks like)
_ROLES: list[tuple[str, re.Pattern[str]]] = [
    ("byline author writer wrote written reporter",
     re.compile(r"^\W*(?i:by)\s+\W*[A-Z][\w.'-]*(?:(?:\s+and\s+|\W+)[A-Z][\w.'-]*){0,5}\W*$")),
    ("dateline published", re.compile(r"^\W*(?:\w+day,?\s+)?(?:\w+\s+\d{1,2},?\s+\d{4}|\d{4}-\d\d-\d\d)\W*$")),
    # A photo credit: "Name Surname/AGENCY", "SOURCE: ... / AGENCY", "Picture taken ...", "via REUTERS".
    ("photo picture image caption credit", re.compile(
        r"\b[A-Z][\w-]+ [A-Z][\w-]+ ?/ ?(?:[A-Z][\w-]*)|\bpicture taken\b|\bhandout\b|\bphoto(?:graph)?:|"
        r"^\s*source:\s", re.I)),
]
_DOMAIN_END = re.compile(r"^(?:www\.)?([a-z0-9-]+)\.[a-z.]+$")


def role_words(text: str) -> str:
    """The roles (byline, dateline, photo credit) a passage plays, as searchable words."""
    return " ".join(words for words, pattern in _ROLES if pattern.search(text))


def segment(word: str, known: frozenset[str]) -> list[str]:
    """Split a run-together word ("themoscowtimes") into the fewest known words, or keep it whole."""
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(end):
            piece = word[start:end]
            if best[start] is not None and (len(piece) > 1 or piece == "a") and piece in known:
                option = best[start] + [piece]
                if best[end] is None or len(option) < len(best[end]):
                    best[end] = option
    return best[-1] or [word]


@lru_cache(maxsize=1024)
def _outlet_words(outlet: str, known: frozenset[str]) -> str:
    m = _DOMAIN_END.match(outlet.lower())
    if not m:
        return outlet
    return " ".join(w for part in m.group(1).split("-") for w in segment(part, known))


def field_words(text: str, outlet: str | None, known: frozenset[str]) -> str:
    """Outlet (a domain split into words) and role words for one passage."""
    outlet = "" if not outlet or outlet == "unknown" else _outlet_words(outlet, known)
    return f"{outlet} {role_words(text)}".strip()
