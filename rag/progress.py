"""Progress for long runs (first-start indexing, `rag eval`): a tqdm bar on a terminal, periodic lines in a log.

A bar redrawn with carriage returns is unreadable in a log file or a CI transcript, so a non-tty gets
plain lines instead: the first item, about every tenth of the way, and the last.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from index.ingest import Progress  # (done, total, what is being worked on)

PARTS = 10  # lines per run, besides the first


def progress_lines(label: str, stream: TextIO | None = None) -> Progress:
    """A callback printing ``label: done/total what`` lines to ``stream`` (default stderr)."""

    def report(done: int, total: int, what: str = "") -> None:
        step = max(1, total // PARTS)
        if done == 1 or done == total or done % step == 0:
            out = stream or sys.stderr
            print(f"{label}: {done}/{total}" + (f" {what}" if what else ""), file=out, flush=True)

    return report


def bar_or_lines(label: str) -> bool | Progress:
    """True (a tqdm bar) when stderr is a terminal, else a :func:`progress_lines` callback."""
    return True if sys.stderr.isatty() else progress_lines(label)
