"""Article metadata read from plain text: outlet, publication date (with where it came from), title, url.

Every rule looks at a line playing a known role on a news page (a credit line, a dateline, a
page-header date, a headline, the page's own address); a name or date merely mentioned in the
story is never taken for the article's own. What no line states stays unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from urllib.parse import urlparse

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MON = r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_LONG_DATE = re.compile(rf"\b({_MONTHS})\s+(\d{{1,2}}),?\s+(\d{{4}})\b")
_DAY_FIRST = re.compile(rf"\b(\d{{1,2}})\s+({_MONTHS})\s+(\d{{4}})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# A line that is only a date, possibly with a weekday, a label and a time ("Published: June 22, 2021 10:00").
_DATE_LINE = re.compile(rf"^\s*(?:(?:published|posted|updated|date)\s*:?\s*)?(?:{_WEEKDAY},?\s+)?"
                        rf"(?:(?:{_MONTHS})\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+(?:{_MONTHS})\s+\d{{4}}|"
                        r"\d{4}-\d{2}-\d{2})(?:[ ,T]+[\d:.]+\s*(?:[ap]\.?m\.?)?\s*(?:[A-Z]{2,4}|GMT[+-]?\d*)?)?\s*$",
                        re.IGNORECASE)
# "MOSCOW: ... on Tuesday (Jun 22) ..." — a dateline giving day and month only.
_SHORT_DATELINE = re.compile(rf"^[A-Z][A-Z .,'-]{{2,40}}:\s.{{0,200}}?"
                             rf"\((?:{_WEEKDAY},?\s+)?({_MON})\w*\.?\s+(\d{{1,2}})\)")

# Credit lines naming the outlet.
_NAME = r"[A-Z][\w&.'-]*(?:[ -][A-Z][\w&.'-]*){0,3}"
_SOURCE_LINE = re.compile(rf"^\s*(?i:source):\s*({_NAME})(?:\s*/\s*\w{{1,4}})?\s*\.?\s*$")
_WIRE_DATELINE = re.compile(rf"^[^()\n]{{0,60}}\(({_NAME})\)\s*(?:--|—|–)")
_REPORTS = re.compile(rf",\s+({_NAME})\s+reports\.?\s*$")  # "..., Reuters reports."
_BYLINE = re.compile(r"^\s*by\s+\[?([^\]\n]{2,60}?)\]?(?:\(\S*\))?\s*$", re.IGNORECASE)
# A byline names an outlet (not a reporter) when it is an agency acronym or carries an outlet word.
_OUTLET_WORD = re.compile(r"\b(?:Reuters|Press|News|Agency|Agence|Times|Post|Journal|Herald|Tribune|Guardian|"
                          r"Telegraph|Bloomberg|Xinhua|Kyodo|Yonhap|Interfax|Network|Radio|Television|"
                          r"Broadcasting|Wire|Gazette|Daily|Magazine)\b")
_ACRONYM = re.compile(r"^[A-Z]{2,6}$")
_URL_LINE = re.compile(r"^\s*(?:(?:original\s+)?url:|source:|link:)?\s*<?(https?://[^\s<>\"]+?)>?\s*$", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}#{1,3}\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*(?=\s+[\"“‘(]?[A-Z0-9]|\s*$)")
_ABBREVIATION = re.compile(r"^(?:[A-Za-z]\.)*[A-Z]$|^(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Gen|Sen|Rep|Gov|Lt|Col|Capt|Sgt|Prof|"
                           r"No|vs|Inc|Corp|Co|Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec)$")
_SENTENCE_LINE = re.compile(r"[.!?:;,][\"'”’)]*$")

LEAD_LINES = 6  # a headline, page-header date, dateline or byline sits in the page's first content lines
TITLE_CHARS = 200  # a first sentence this long or shorter is a whole title; a longer one is cut with "…"


@dataclass(frozen=True)
class TextMeta:
    title: str
    outlet: str | None
    date: str | None
    date_source: str | None
    url: str | None


def iso_date(text: str) -> str | None:
    """The first full calendar date in ``text`` as ``YYYY-MM-DD`` (None when there is none or it is invalid)."""
    for pattern, fmt in ((_LONG_DATE, "{1} {2} {3}"), (_DAY_FIRST, "{2} {1} {3}")):
        m = pattern.search(text)
        if m:
            try:
                return datetime.strptime(fmt.format(*m.group(0, 1, 2, 3)), "%B %d %Y").date().isoformat()
            except ValueError:
                return None
    m = _ISO_DATE.search(text)
    if m:
        try:
            return Date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return None
    return None


def outlet_from_url(url: str) -> str | None:
    host = (urlparse(url).hostname or "").removeprefix("www.")
    return host or None


def page_url(lines: list[str]) -> str | None:
    """The page's own address: a line that is only a URL (or ``Original url: <...>``), never a link in a sentence."""
    for line in lines:
        m = _URL_LINE.match(line)
        if m:
            return m[1]
    return None


def credited_outlet(lines: list[str]) -> str | None:
    """The outlet a credit line names: ``Source: Reuters/jt``, ``(CNN) --``, ``..., Reuters reports.``, ``By AFP``."""
    for line in lines:
        m = _SOURCE_LINE.match(line)
        if m:
            return m[1].strip()
    lead = lines[:LEAD_LINES]
    for line in lead:
        m = _WIRE_DATELINE.match(line.strip())
        if m:
            return m[1]
    for line in lead:
        for sentence in _sentences(line):
            m = _REPORTS.search(sentence)
            if m:
                return m[1]
    for line in lead:
        m = _BYLINE.match(line)
        if m:
            name = re.split(r",|\||\bfor\b| - | — ", m[1])[-1].strip()
            if _ACRONYM.match(name) or _OUTLET_WORD.search(name):
                return name
    return None


def published(lines: list[str]) -> tuple[str | None, str | None]:
    """``(date, date_source)`` from a date line or dateline among the first lines.

    A date line above the headline is the page header (often the day the page was saved, not the
    story's); below it, it is the story's dateline.
    """
    lead = lines[:LEAD_LINES]
    title_at = _title_index(lead)
    for i, line in enumerate(lead):
        if _DATE_LINE.match(line):
            when = iso_date(line)
            if when:
                return when, "page header" if title_at is not None and i < title_at else "dateline"
    for line in lead:
        m = _SHORT_DATELINE.match(line.strip())
        if m:
            return _with_year(m[1], int(m[2]), lines)
    return None, None


def _with_year(month: str, day: int, lines: list[str]) -> tuple[str | None, str | None]:
    """A day-and-month dateline takes its year from a full date of that same day in the text."""
    month_no = datetime.strptime(month[:3], "%b").month
    for line in lines:
        for m in _LONG_DATE.finditer(line):
            when = iso_date(m.group(0))
            if when and (int(when[5:7]), int(when[8:10])) == (month_no, day):
                return when, "dateline"
    return None, None


def _is_headline(line: str) -> bool:
    line = line.strip()
    return (15 <= len(line) <= 150 and not _SENTENCE_LINE.search(line) and not _DATE_LINE.match(line)
            and not _BYLINE.match(line) and not _URL_LINE.match(line) and not _WIRE_DATELINE.match(line))


def _title_index(lead: list[str]) -> int | None:
    """Where the headline sits: above the story's first paragraph, never a subheading below it."""
    for i, line in enumerate(lead):
        if _HEADING.match(line) or _is_headline(line):
            return i
        if len(line.strip()) > 150 or _SENTENCE_LINE.search(line.strip()):
            return None
    return None


def title(lines: list[str]) -> str:
    """A Markdown heading, else a headline line among the first lines, else the whole first sentence."""
    for line in lines:
        m = _HEADING.match(line)
        if m:
            return m[1].strip()
    lead = lines[:LEAD_LINES]
    at = _title_index(lead)
    if at is not None:
        return lead[at].strip()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    first = re.sub(r"^[^()\n]{0,60}\([^()\n]{1,40}\)\s*(?:--|—|–)\s*", "", first)  # "CITY (CNN) -- "
    sentence = _sentences(first)[0] if first else ""
    if len(sentence) <= TITLE_CHARS:
        return sentence
    return sentence[:TITLE_CHARS - 3].rsplit(" ", 1)[0] + "…"


def _sentences(line: str) -> list[str]:
    """Split a line into sentences; an initial or a title ("U.S.", "Gen.") ends none."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(line):
        word = line[start:m.start()].rsplit(None, 1)[-1] if line[start:m.start()].strip() else ""
        if m.group(0).startswith(".") and _ABBREVIATION.match(word):
            continue
        out.append(line[start:m.end()].strip())
        start = m.end()
    rest = line[start:].strip()
    return [s for s in [*out, rest] if s] or [line]


def read(lines: list[str], all_lines: list[str]) -> TextMeta:
    """Metadata from an article's content lines (boilerplate left out); its address from all its lines."""
    url = page_url(all_lines)
    date, source = published(lines)
    outlet = (outlet_from_url(url) if url else None) or credited_outlet(lines)
    return TextMeta(title=title(lines), outlet=outlet, date=date, date_source=source, url=url)


def normalise_date(value: str) -> str | None:
    """A date as written in a sidecar, feed or dump (ISO, RFC 822, "June 22, 2021") as ``YYYY-MM-DD``."""
    from email.utils import parsedate_to_datetime

    value = value.strip()
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", value)
    if m:
        try:
            return Date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return None
    try:
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return iso_date(value)
