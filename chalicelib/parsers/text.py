"""The language-agnostic chunker: windows of about 40 lines, cut at blank lines when possible.

Lines are separated by "\n" only (a "\r" stays part of its line), which is how git and editors
number them: "a\nb\n" and "a\nb" both have 2 lines, "" has none. `LexicalSegment.lines` in
`chalicelib.domain.lexical` numbers lines the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

TARGET_LINES = 40
MIN_CUT_LINE = 30
MAX_LINES = 60


def split_lines(text: str) -> list[str]:
    """The lines of `text` without their "\n" terminators."""
    if not text:
        return []
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def count_lines(text: str) -> int:
    """`len(split_lines(text))`, without building the list."""
    return text.count("\n") + (not text.endswith("\n")) if text else 0


def _window_end(blank: Sequence[bool], start: int) -> int:
    """0-based inclusive end of the window starting at 0-based `start`.

    The rest of the file when it fits in MAX_LINES; otherwise the blank line nearest to line
    TARGET_LINES of the window among its lines MIN_CUT_LINE..MAX_LINES (the earlier one on a
    tie), or line TARGET_LINES when there is no such blank line.
    """
    if len(blank) - start <= MAX_LINES:
        return len(blank) - 1
    target = start + TARGET_LINES - 1
    candidates = [i for i in range(start + MIN_CUT_LINE - 1, start + MAX_LINES) if blank[i]]
    if not candidates:
        return target
    return min(candidates, key=lambda i: (abs(i - target), i))


def chunk_lines(text: str) -> list[tuple[int, int]]:
    """1-based inclusive line spans covering every line of `text` exactly once, in order."""
    return window_spans(split_lines(text))


def window_spans(lines: Sequence[str]) -> list[tuple[int, int]]:
    """`chunk_lines` over lines already split."""
    blank = [not line.strip() for line in lines]
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(blank):
        end = _window_end(blank, start)
        spans.append((start + 1, end + 1))
        start = end + 1
    return spans
