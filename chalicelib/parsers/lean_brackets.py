"""Bracket-aware helpers over Lean token lists: depth, matching closers, binder groups."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from chalicelib.parsers.lean_lexer import Token
from chalicelib.parsers.lean_syntax import CLOSE_BRACKETS, OPEN_BRACKETS


def is_sym(token: Token, *texts: str) -> bool:
    return token.kind == "sym" and token.text in texts


def with_depth(
    tokens: Sequence[Token], start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int]]:
    """(index, bracket depth) from `start` to `end`; an opener and its closer are at the outer
    depth."""
    depth = 0
    for i in range(start, len(tokens) if end is None else end):
        token = tokens[i]
        if token.kind == "sym" and token.text in CLOSE_BRACKETS:
            depth = max(depth - 1, 0)
        yield i, depth
        if token.kind == "sym" and token.text in OPEN_BRACKETS:
            depth += 1


def closer(tokens: Sequence[Token], start: int, limit: int | None = None) -> int:
    """Index of the bracket closing the one opened at `start`: the last index looked at if it
    is unclosed (the end, or `limit` tokens on)."""
    end = len(tokens) if limit is None else min(len(tokens), start + limit)
    depth = 0
    for i in range(start, end):
        token = tokens[i]
        if token.kind != "sym":
            continue
        if token.text in OPEN_BRACKETS:
            depth += 1
        elif token.text in CLOSE_BRACKETS:
            depth -= 1
            if depth <= 0:
                return i
    return end - 1


def group_names(tokens: Sequence[Token], start: int, end: int) -> list[str]:
    """Names bound by the binder group tokens[start..end] (brackets included)."""
    opener = tokens[start].text
    inner = tokens[start + 1 : end]
    if opener == "⟨":
        return [t.text for t in inner if t.kind == "ident"]
    colon = next((k for k, t in enumerate(inner) if is_sym(t, ":")), None)
    if colon is None and opener == "[":
        return []
    return [t.text for t in inner[:colon] if t.kind == "ident"]


_HEADER_STOPS = frozenset({":", ":=", "|"})


def header_binders(tokens: Sequence[Token], start: int) -> list[str]:
    """Names bound by the bracket groups from `start` up to the first bracket-free `:`."""
    names: list[str] = []
    i = start
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "ident" and token.text == "where":
            break
        if token.kind == "sym" and token.text in _HEADER_STOPS:
            break
        if token.kind == "sym" and token.text in OPEN_BRACKETS:
            end = closer(tokens, i)
            names += group_names(tokens, i, end)
            i = end
        i += 1
    return names
