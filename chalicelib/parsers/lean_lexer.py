"""Lean 4 tokens: one compiled regex per step, nested block comments scanned by depth. Pure.

Token kinds (the `kind` field):

- `ident`: an identifier, dots kept (`Nat.succ_le`, `«weird name».x`, `h₁'`, `get?`). Letters
  are any Unicode letter except `λ`, `Π`, `Σ` (which are binders in Lean), plus the letter-like
  block (double-struck N, R, ...); the rest may also hold digits, `_`, `'`, `!`, `?` and subscripts.
- `dotident`: `.succ` (anonymous constructor or field access on an expression).
- `namelit`: `` `foo `` and ``` ``foo ``` name literals (not uses of the name).
- `number`, `string`, `char`: literals. A string may span lines; an unterminated one runs to
  the end of the text. An interpolated string (`s!"{f "x"} y"`) is one string token, its
  `{terms}` included: names in them are not read as uses.
- `doc` (`/-- -/`), `moddoc` (`/-! -/`), `comment` (`--` and `/- -/`, nesting counted). An
  unterminated block comment runs to the end of the text.
- `hash`: `#eval`, `#check`, ... (a command keyword).
- `sym`: punctuation, one token each; the multi-character ones the parser needs are kept whole
  (`:=`, `::`, `=>`, `@[`, `<;>`, `|>.`, `||`, ...), so a lone `|` is a real bar.

Never raises: any character that fits no rule becomes a one-character `sym`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_SUBSCRIPTS = "\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a\u2c7c"
_ID_START = rf"(?:[^\W\d{_SUBSCRIPTS}\u03bb\u03a0\u03a3]|[\u2100-\u214f])"
_ID_REST = rf"(?:[^\W\u03bb\u03a0\u03a3]|[\u2100-\u214f'!?{_SUBSCRIPTS}])"
_COMPONENT = rf"(?:«[^»\n]*»|{_ID_START}{_ID_REST}*)"  # one line: the lexer counts lines by token
_IDENT = rf"{_COMPONENT}(?:\.{_COMPONENT})*"

_MULTI_SYMBOLS = (
    ":=", "::", "=>", "@[", "<;>", "|>.", "|>", "<|>", "<|", "||", "...", "..", "->", "<-",
    "<=", ">=", "!=", "==", "&&", "++", "{{", "}}",
)  # fmt: skip

# One alternative per token kind, tried in this order at each position (after whitespace).
_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<line>--[^\n]*)"
    r"|(?P<block>/-)"
    r"|(?P<interpolated>[A-Za-z_][A-Za-z_0-9]*!\")"
    rf"|(?P<ident>{_IDENT})"
    rf"|(?P<dotident>\.{_IDENT})"
    rf"|(?P<namelit>``?{_IDENT})"
    r"|(?P<number>0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+"
    r"|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)"
    r"|(?P<string>\"(?:[^\"\\]|\\.)*(?:\"|\\?\Z))"
    r"|(?P<char>'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])')"
    r"|(?P<hash>#[A-Za-z_][A-Za-z_0-9]*)"
    rf"|(?P<sym>{'|'.join(re.escape(s) for s in _MULTI_SYMBOLS)}|[\s\S])"
    r")",
    re.DOTALL,
)
_COMMENT_MARK = re.compile(r"/-|-/")
_INTERPOLATION_MARK = re.compile(r'\\.|["{}]', re.DOTALL)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)


class Token(NamedTuple):
    """One token: its kind, text, 1-based start line, 0-based column, the line it ends on,
    and whether it is the first token on its line."""

    kind: str
    text: str
    line: int
    col: int
    end_line: int
    first: bool


def _block_end(text: str, start: int) -> int:
    """Offset just past the block comment opened at `start` (nesting counted), or len(text)."""
    depth = 1
    pos = start + 2
    for mark in _COMMENT_MARK.finditer(text, pos):
        depth += 1 if mark.group() == "/-" else -1
        if depth == 0:
            return mark.end()
    return len(text)


def _interpolated_end(text: str, start: int) -> int:
    """Offset just past `s!"...{term "with strings"}..."` opened at `start`, or len(text)."""
    depth = 0
    pos = text.index('"', start) + 1
    while (mark := _INTERPOLATION_MARK.search(text, pos)) is not None:
        token, pos = mark.group(), mark.end()
        if token == '"' and depth == 0:
            return pos
        if token == '"':
            nested = _STRING.match(text, mark.start())
            pos = nested.end() if nested else pos
        elif token in "{}":
            depth = max(depth + (1 if token == "{" else -1), 0)
    return len(text)


def _block_kind(text: str, start: int) -> str:
    third = text[start + 2 : start + 3]
    if third == "-" and text[start + 3 : start + 4] != "/":
        return "doc"
    return "moddoc" if third == "!" else "comment"


def _extent(text: str, start: int, kind: str, end: int) -> tuple[int, str]:
    """The real end and kind of a token whose regex match ended at `end`."""
    if kind == "block":
        return _block_end(text, start), _block_kind(text, start)
    if kind == "interpolated":
        return _interpolated_end(text, start), "string"
    return end, "comment" if kind == "line" else kind


# Kinds whose end the regex does not find alone, and kinds that may hold a newline.
_EXTENDED = frozenset({"block", "interpolated", "line"})
_MULTILINE = frozenset({"comment", "doc", "moddoc", "string"})


def tokenize(text: str) -> list[Token]:
    """Every token of `text`, in order (comments included; whitespace dropped)."""
    tokens: list[Token] = []
    append, match, new = tokens.append, _TOKEN.match, tuple.__new__
    pos, line, line_start, last_line = 0, 1, 0, 0
    stop = len(text.rstrip())  # whitespace as `str.strip` sees it, as line blankness does
    while pos < stop:
        m = match(text, pos)
        if m is None:  # unreachable: `[\s\S]` matches any character
            break
        kind = m.lastgroup or "sym"
        start, end = m.span(kind)
        if kind in _EXTENDED:
            end, kind = _extent(text, start, kind, end)
        newline = text.rfind("\n", pos, start)
        if newline >= 0:
            line += text.count("\n", pos, newline + 1)
            line_start = newline + 1
        inner = 0
        if kind in _MULTILINE:
            end = min(end, stop)  # an unterminated one keeps out the trailing whitespace
            inner = text.count("\n", start, end)
        token_text = text[start:end]
        first = line > last_line
        append(new(Token, (kind, token_text, line, start - line_start, line + inner, first)))
        if inner:
            line += inner
            line_start = text.rfind("\n", start, end) + 1
        last_line = line
        pos = end
    return tokens
