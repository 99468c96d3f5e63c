"""Chunk layout: a file's outline of definitions in, chunk spans out. Pure; knows no grammar.

The tree-sitter and Markdown parsers describe a file as `Outline` nodes (a definition's chunk
span, its chunk kind and symbol, its child definitions) and `plan_spans` turns that into
chunk spans under one invariant: every non-blank line of the file is in exactly one span, and
spans never overlap (blank lines at the edges of module-level code may be left out).

Rules, applied per region (the whole file, or a definition that had to be split):

- Each child definition of up to `MAX_DEFINITION_LINES` lines is one piece.
- A longer definition is split: at its own child definitions when it has any (a class's
  methods become their own chunks, and the code between them - header, fields - becomes
  chunks of the class's kind and symbol), otherwise into line windows of its kind and symbol.
- Lines between definitions (module-level code, or a split definition's own code) become
  pieces of the region owner's kind and symbol ("module"/None at the top of a code file),
  without their leading and trailing blank lines, cut into line windows when longer than
  `text.MAX_LINES`.
- Adjacent pieces of the same region smaller than `TINY_LINES` are merged while the merged
  span stays within `MERGE_MAX_LINES`. A merged chunk keeps its first piece's kind and symbol
  when all its pieces are definitions, and takes the region owner's kind and symbol (the
  "module"/None of module-level code) when it mixes definitions with code between them.
- Definitions that overlap a previous sibling (two on one line) are folded into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chalicelib.domain.models import Chunk
from chalicelib.domain.tokens import term_counts
from chalicelib.parsers.text import window_spans

MAX_DEFINITION_LINES = 120
TINY_LINES = 8
MERGE_MAX_LINES = 40


@dataclass(frozen=True, slots=True)
class Outline:
    """A definition as the layout sees it: its chunk span (1-based, inclusive), the kind and
    symbol its chunks carry, and its child definitions in source order."""

    start: int
    end: int
    kind: str
    symbol: str | None
    children: tuple[Outline, ...] = ()


@dataclass(frozen=True, slots=True)
class Span:
    """One planned chunk: 1-based inclusive lines, kind and symbol."""

    start: int
    end: int
    kind: str
    symbol: str | None


@dataclass(frozen=True, slots=True)
class _Piece:
    span: Span
    definition: bool  # a whole definition (not code between definitions)
    mergeable: bool  # a tiny piece of this region (split definitions' spans never merge)


def plan_spans(
    lines: Sequence[str], outline: Sequence[Outline], owner_kind: str = "module"
) -> list[Span]:
    """Chunk spans for a file of `lines` whose top-level definitions are `outline`."""
    root = Outline(1, len(lines), owner_kind, None, tuple(outline))
    return [piece.span for piece in _region(root, lines)]


def _region(owner: Outline, lines: Sequence[str]) -> list[_Piece]:
    """The merged pieces covering `owner`'s span, at its children's boundaries."""
    pieces: list[_Piece] = []
    cursor = owner.start
    for child in _normalized(owner.children, owner.start, owner.end):
        pieces.extend(_gap(owner, cursor, child.start - 1, lines))
        pieces.extend(_definition(child, lines))
        cursor = child.end + 1
    pieces.extend(_gap(owner, cursor, owner.end, lines))
    return _merged(pieces, owner)


def _normalized(children: Sequence[Outline], start: int, end: int) -> list[Outline]:
    """Children clipped to [start, end], in order, an overlapping one folded into the last."""
    result: list[Outline] = []
    for child in sorted(children, key=lambda c: (c.start, -c.end)):
        lo, hi = max(child.start, start), min(child.end, end)
        if lo > hi:
            continue
        if result and lo <= result[-1].end:
            last = result[-1]
            children = last.children + child.children
            result[-1] = Outline(last.start, max(last.end, hi), last.kind, last.symbol, children)
        else:
            result.append(Outline(lo, hi, child.kind, child.symbol, child.children))
    return result


def _definition(child: Outline, lines: Sequence[str]) -> list[_Piece]:
    size = child.end - child.start + 1
    if size <= MAX_DEFINITION_LINES:
        span = Span(child.start, child.end, child.kind, child.symbol)
        return [_Piece(span, definition=True, mergeable=size < TINY_LINES)]
    if child.children:
        return [_Piece(p.span, p.definition, mergeable=False) for p in _region(child, lines)]
    return _windows(child, child.start, child.end, lines, definition=True)


def _gap(owner: Outline, start: int, end: int, lines: Sequence[str]) -> list[_Piece]:
    """Pieces for the owner's own lines start..end, without blank lines at either edge."""
    while start <= end and not lines[start - 1].strip():
        start += 1
    while end >= start and not lines[end - 1].strip():
        end -= 1
    if start > end:
        return []
    return _windows(owner, start, end, lines, definition=False)


def _windows(
    owner: Outline, start: int, end: int, lines: Sequence[str], *, definition: bool
) -> list[_Piece]:
    """Line windows over start..end carrying the owner's kind and symbol."""
    pieces = []
    for lo, hi in window_spans(lines[start - 1 : end]):
        size = hi - lo + 1
        span = Span(start + lo - 1, start + hi - 1, owner.kind, owner.symbol)
        pieces.append(_Piece(span, definition, mergeable=size < TINY_LINES))
    return pieces


def _merged(pieces: Sequence[_Piece], owner: Outline) -> list[_Piece]:
    """Runs of adjacent tiny pieces merged while each run spans at most MERGE_MAX_LINES."""
    result: list[_Piece] = []
    run: list[_Piece] = []
    for piece in pieces:
        fits = run and piece.span.end - run[0].span.start + 1 <= MERGE_MAX_LINES
        if piece.mergeable and (not run or fits):
            run.append(piece)
            continue
        result.extend(_fold(run, owner))
        run = [piece] if piece.mergeable else []
        if not piece.mergeable:
            result.append(piece)
    result.extend(_fold(run, owner))
    return result


def _fold(run: Sequence[_Piece], owner: Outline) -> list[_Piece]:
    if len(run) <= 1:
        return list(run)
    first = run[0].span
    if all(p.definition for p in run):
        kind, symbol = first.kind, first.symbol
    else:
        kind, symbol = owner.kind, owner.symbol
    span = Span(first.start, run[-1].span.end, kind, symbol)
    return [_Piece(span, definition=False, mergeable=False)]


def build_chunks(lines: Sequence[str], spans: Iterable[Span]) -> tuple[Chunk, ...]:
    """Chunks for planned spans, each with the terms of its lines."""
    return tuple(
        Chunk(s.start, s.end, s.kind, s.symbol, term_counts("\n".join(lines[s.start - 1 : s.end])))
        for s in spans
    )


def window_chunks(lines: Sequence[str]) -> tuple[Chunk, ...]:
    """Plain line windows ("window" chunks), the fallback for text no parser can read."""
    return build_chunks(lines, (Span(a, b, "window", None) for a, b in window_spans(lines)))
