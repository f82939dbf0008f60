"""Dataset dumps with one article per row: JSON Lines or CSV, read as a stream with a field mapping.

Rows are yielded one at a time (a 100,000-row file never sits in memory); a row that cannot be used
is yielded as a :class:`BadRow` with its line number and the reason, and reading goes on.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from index.metadata import normalise_date
from index.sources.corpus import NewsItem, safe_id, text_id

DUMP_SUFFIXES = (".jsonl", ".csv")


@dataclass(frozen=True)
class FieldMap:
    """Which column or key holds what (``--text-field`` and friends)."""

    text: str = "text"
    title: str = "title"
    url: str = "url"
    date: str = "date"
    outlet: str = "outlet"
    id: str = "id"


@dataclass(frozen=True)
class Row:
    line: int
    doc_id: str
    item: NewsItem


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


def read_dump(path: Path, fields: FieldMap) -> Iterator[Row | BadRow]:
    """Each row of the dump at ``path`` as a Row, or a BadRow saying why it was skipped."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        records = _jsonl(path)
    elif suffix == ".csv":
        records = _csv(path)
    else:
        raise ValueError(f"unsupported dump type {suffix or '(none)'}; use .jsonl or .csv")
    for line, record in records:
        yield record if isinstance(record, BadRow) else _row(path, line, record, fields)


def _row(path: Path, line: int, record: dict, fields: FieldMap) -> Row | BadRow:
    text = record.get(fields.text)
    if not isinstance(text, str) or not text.strip():
        return BadRow(line, f"no text in field {fields.text!r}")
    if "\x00" in text:
        return BadRow(line, "text holds a NUL character")

    def value(name: str) -> str | None:
        got = record.get(name)
        if got is None or isinstance(got, (dict, list)):
            return None
        return " ".join(str(got).split()) or None

    raw_date = value(fields.date)
    date = normalise_date(raw_date) if raw_date else None
    url = value(fields.url)
    url = url if url and url.lower().startswith(("http://", "https://")) else None
    given_id = value(fields.id)
    doc_id = safe_id(path.stem, given_id) if given_id else text_id(path.stem, text)
    item = NewsItem(text=text.strip(), title=value(fields.title), outlet=value(fields.outlet), date=date,
                    date_source="dump" if date else None, url=url, source=f"{path.name}:{line}")
    return Row(line, doc_id, item)


def _jsonl(path: Path) -> Iterator[tuple[int, dict | BadRow]]:
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
            except UnicodeDecodeError:
                yield line_no, BadRow(line_no, "not UTF-8")
                continue
            except ValueError as exc:
                yield line_no, BadRow(line_no, f"not JSON ({exc})")
                continue
            yield line_no, record if isinstance(record, dict) else BadRow(line_no, "not a JSON object")


def _csv(path: Path) -> Iterator[tuple[int, dict | BadRow]]:
    """Rows with the line each starts on; a row touching a line that is not UTF-8 is bad."""
    bad_lines: set[int] = set()

    def lines(fh) -> Iterator[str]:
        for line_no, raw in enumerate(fh, 1):
            try:
                yield raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError:
                bad_lines.add(line_no)
                yield raw.decode("utf-8", "replace")

    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open("rb") as fh:
        reader = csv.DictReader(lines(fh))
        start = 2  # the header is line 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, BadRow(start, f"broken CSV ({exc})")
                start = reader.line_num + 1
                continue
            end = reader.line_num
            if any(start <= n <= end for n in bad_lines):
                yield start, BadRow(start, "not UTF-8")
            elif None in record or None in record.values():
                n = sum(v is not None for k, v in record.items() if k is not None) + len(record.get(None) or [])
                yield start, BadRow(start, f"{n} fields where the header has {len(reader.fieldnames or [])}")
            else:
                yield start, record
            bad_lines.difference_update([n for n in bad_lines if n <= end])
            start = end + 1
