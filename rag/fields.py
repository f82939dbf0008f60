"""Words a passage stands for beyond its text: its article's outlet and its role in the article.

A question can name the outlet ("the Moscow Times story") or a part of a news page
("byline", "photo credit") that the passage's own words never say. These words are
added to the passage's lexical (BM25) text and count towards term coverage; the
passage text itself, and so every citation, is unchanged.

A line playing a role (a byline, a dateline, a caption with its credit) is about its
article rather than about the news: a question asking for it names the article by its
title or topic ("the byline on the story about ..."), which the line itself never says.
"""

from __future__ import annotations

import re

from index.text import stem

# (role words, what a passage in that role looks like). Name parts and separators share no
# character, so a long line of punctuation cannot make the byline pattern backtrack for ever.
_ROLES: list[tuple[str, re.Pattern[str]]] = [
    ("byline author writer wrote written reporter",
     re.compile(r"^\W*(?i:by)\s+\W*[A-Z][\w'-]*(?:(?:\s+and\s+|[\s.,;&/()\[\]#]+)[A-Z][\w'-]*){0,5}\W*$")),
    ("dateline published", re.compile(r"^\W*(?:\w+day,?\s+)?(?:\w+\s+\d{1,2},?\s+\d{4}|\d{4}-\d\d-\d\d)\W*$")),
    # A photo credit: "Name Surname/AGENCY", "SOURCE: ... / AGENCY", "Picture taken ...", "via REUTERS".
    ("photo picture image caption credit", re.compile(
        r"\b[A-Z][\w-]+ [A-Z][\w-]+ ?/ ?[A-Z]|(?i:\bpicture taken\b|\bhandout\b|\bphoto(?:graph)?:|^\s*source:\s)")),
]
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu"}  # news.bbc.co.uk: the name is "bbc"


def role_words(text: str) -> str:
    """The roles (byline, dateline, photo credit) a passage plays, as searchable words."""
    return " ".join(words for words, pattern in _ROLES if pattern.search(text))


def role_stems(text: str) -> frozenset[str]:
    """The stemmed role words of ``text``: a question sharing one asks for the role it plays."""
    return frozenset(stem(w) for w in role_words(text).split())


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


def _outlet_words(outlet: str, known: frozenset[str]) -> str:
    """A domain's name label split into words (www.themoscowtimes.com: "the moscow times")."""
    labels = outlet.lower().removeprefix("www.").split(".")
    if len(labels) < 2 or not all(labels) or " " in outlet:
        return outlet
    labels.pop()  # the top-level domain
    if len(labels) > 1 and labels[-1] in _SECOND_LEVEL:
        labels.pop()
    return " ".join(w for part in labels[-1].split("-") for w in segment(part, known))


def field_words(text: str, outlet: str | None, known: frozenset[str]) -> str:
    """Outlet (a domain split into words) and role words for one passage."""
    outlet = "" if not outlet or outlet == "unknown" else _outlet_words(outlet, known)
    return f"{outlet} {role_words(text)}".strip()
