"""What a check says about a file: `Diagnostic` records and the small pure helpers that place
and bound them.

Positions follow the editor convention (LSP-like, but 1-based):

- `line` and `end_line` are 1-based; lines are separated by `\\n` only (a `\\r` before it is
  part of the line; a lone `\\r` does not start one).
- `column` and `end_column` are 1-based and counted in **characters** of the UTF-8 text
  decoded with replacement (each invalid byte sequence counts as one `U+FFFD`), not in bytes.
- The end is **exclusive**: `(end_line, end_column)` is the position just after the last
  character of the span. A zero-width span (a missing token) has end == start.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

# More than this many diagnostics for one file are dropped and summed up in a final one.
MAX_DIAGNOSTICS_PER_FILE = 100

_NEWLINE = re.compile(rb"\n")


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding in a file, spanning [(line, column), (end_line, end_column)) — see the
    module docstring for the units."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: Severity
    message: str
    tool: str


class TextPositions:
    """Byte offsets of UTF-8 (possibly invalid) text -> 1-based (line, character column)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._line_starts = [0] + [m.end() for m in _NEWLINE.finditer(data)]

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column) of the character starting at byte `offset` (clamped to the text)."""
        offset = max(0, min(offset, len(self._data)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        start = self._line_starts[index]
        return index + 1, character_count(self._data[start:offset]) + 1

    def row_position(self, row: int, byte_column: int) -> tuple[int, int]:
        """(line, column) of tree-sitter's 0-based (row, byte column) point."""
        row = max(0, min(row, len(self._line_starts) - 1))
        return self.position(self._line_starts[row] + byte_column)


def character_count(chunk: bytes) -> int:
    """Characters in `chunk` decoded as UTF-8 with replacement."""
    if chunk.isascii():
        return len(chunk)
    return len(chunk.decode("utf-8", "replace"))


def sorted_and_capped(
    diagnostics: Iterable[Diagnostic], limit: int = MAX_DIAGNOSTICS_PER_FILE
) -> list[Diagnostic]:
    """Diagnostics by position; past `limit`, the first `limit` and a final warning saying how
    many more were dropped (placed at the first dropped one)."""
    ordered = sorted(set(diagnostics), key=_position_key)
    if len(ordered) <= limit:
        return ordered
    first_dropped = ordered[limit]
    summary = Diagnostic(
        path=first_dropped.path,
        line=first_dropped.line,
        column=first_dropped.column,
        end_line=first_dropped.line,
        end_column=first_dropped.column,
        severity="warning",
        message=f"too many diagnostics: {len(ordered) - limit} more not shown",
        tool="strata",
    )
    return [*ordered[:limit], summary]


def _position_key(diagnostic: Diagnostic) -> tuple[int, int, int, int, str, str]:
    d = diagnostic
    return (d.line, d.column, d.end_line, d.end_column, d.tool, d.message)


def excerpt(text: str, limit: int = 40) -> str:
    """A short single-line excerpt of `text`: its first non-blank line, trimmed to `limit`."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
