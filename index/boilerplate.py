"""Recognise scraped-page furniture (navigation, newsletter prompts, link lists).

Cleaning works on lines and never rewrites text: it only decides which spans of
the raw file are article content, so citation offsets always index the raw file.
"""

from __future__ import annotations

import re

# A line that is page furniture on its own.
_JUNK_LINE = re.compile(
    r"""^\s*(?:
        skip\ to\ (?:main\ )?content
      | !?--.*-->                                  # stray HTML comment remnant
      | <!--.*
      | follow\ us\ on\ \w+.*
      | subscribe\ to\ (?:our|the)\ newsletter.*
      | to\ be\ updated\ with\ all\ the\ latest.*
      | for\ the\ latest\ headlines.*
      | (?:\*\*)?related\ articles?:?(?:\*\*)?:?\ *(?:\[.*)?
      | read:\ .*
      | advertisement
      | other\ news
      | share\ (?:this|on)\b.*
      | e-?mail\ (?:this\ )?(?:to\ a\ friend|article).*
      | print\ (?:this\ )?(?:article|story|page)
      | click\ here\b.*
      | (?:see|read|view)\ the\ (?:original|full)\ (?:article|story|post)\b.*
      | (?:this\ )?(?:article|story)\ (?:originally\ )?(?:appeared|was\ (?:originally\ )?published)\ (?:on|in|at)\b.*
      | (?:copyright|\(c\)|©)\ .{0,80}
      | all\ rights\ reserved\.?
      | -+
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)

# A header that starts a list of links to other stories: it and the lines after
# it, up to the next blank line, are dropped.
_LINK_LIST_HEADER = re.compile(
    r"^\s*(?:read\ more|also\ worth\ reading|related\ (?:articles|stories|news)|more\ stories|recommended)\s*:?\s*$",
    re.IGNORECASE | re.VERBOSE,
)

# Furniture inside a content line: a link teaser ("Watch the rescue »", "Â»" when mis-decoded) or a
# sharing prompt run into the last sentence of a paragraph.
_INLINE_JUNK = re.compile(r"(?:(?<=\s)|^)[A-Z][^.!?»\n]{0,120}(?:»|Â»)|\bE-?mail\ to\ a\ friend\b", re.VERBOSE)

_URL_LINE = re.compile(r"^\s*<?https?://\S+>?\s*$")
_META_LINE = re.compile(r"^\s*original\ url:\s*$", re.IGNORECASE | re.VERBOSE)


def content_lines(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` spans of the lines of ``text`` that are content.

    Spans exclude the newline and surrounding whitespace; blank lines yield no
    span but end a dropped link list.
    """
    spans: list[tuple[int, int]] = []
    in_link_list = False
    pos = 0
    for line in text.splitlines(keepends=True):
        start, body = pos, line.rstrip("\r\n")
        pos += len(line)
        stripped = body.strip()
        if not stripped:
            in_link_list = False
            continue
        if _LINK_LIST_HEADER.match(body):
            in_link_list = True
            continue
        if in_link_list or _JUNK_LINE.match(body) or _URL_LINE.match(body) or _META_LINE.match(body):
            continue
        spans += _without_inline_junk(body, start)
    return spans


def _without_inline_junk(line: str, offset: int) -> list[tuple[int, int]]:
    """The stripped pieces of ``line`` around any inline furniture, as spans of the raw text."""
    pieces, cursor = [], 0
    for m in [*_INLINE_JUNK.finditer(line), None]:
        end = m.start() if m else len(line)
        piece = line[cursor:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            pieces.append((offset + cursor + lead, offset + cursor + lead + len(piece.strip())))
        cursor = m.end() if m else cursor
    return pieces
