"""Markdown: one "section" chunk per ATX heading (`#` to `######`), no grammar needed. Pure.

A section runs from its heading to the line before the next heading of any level (sections are
flat, not nested) and its chunk symbol is the heading's text. Lines before the first heading
are a section with no symbol. Headings inside fenced code blocks (``` or ~~~, closed by a fence
of the same character at least as long) do not count. Setext headings (underlined with `===`)
are not recognised. Sizing follows `layout`: long sections are cut into windows, tiny adjacent
ones merged (keeping the first one's symbol, or none when the untitled lines before the first
heading are among them). Markdown yields no symbols or references.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chalicelib.domain.models import Chunk, Reference, Symbol
from chalicelib.parsers.layout import Outline, build_chunks, plan_spans
from chalicelib.parsers.text import split_lines

Parsed = tuple[tuple[Chunk, ...], tuple[Symbol, ...], tuple[Reference, ...]]

_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def headings(lines: Sequence[str]) -> list[tuple[int, str]]:
    """(1-based line, heading text) of every ATX heading outside fenced code blocks."""
    found: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(lines, start=1):
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and _closes(fence, opener.group(1), line[opener.end() :]):
                fence = None
            continue
        if opener:
            fence = opener.group(1)
            continue
        match = _HEADING.match(line)
        if match:
            found.append((number, (match.group(2) or "").strip()))
    return found


def _closes(fence: str, marker: str, rest: str) -> bool:
    return marker[0] == fence[0] and len(marker) >= len(fence) and not rest.strip()


def parse_markdown(text: str) -> Parsed:
    """Section chunks of a Markdown document (see the module docstring)."""
    lines = split_lines(text)
    found = headings(lines)
    starts = [line for line, _ in found]
    ends = [line - 1 for line in starts[1:]] + [len(lines)]
    outline = [
        Outline(line, end, "section", title or None)
        for (line, title), end in zip(found, ends, strict=False)
    ]
    return build_chunks(lines, plan_spans(lines, outline, owner_kind="section")), (), ()
