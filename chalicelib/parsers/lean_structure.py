"""Lean structural errors, found from our own tokens without Lean: the `syntax` check for
`.lean` files (tool "lean-structure"). Pure.

- an unterminated block comment (`/-` without its `-/`, nesting counted) or string: an error
  at the opening `/-` or `"`;
- brackets: a closer that does not match the innermost opener (error at the closer, naming
  the opener), a closer with nothing open, an opener never closed (error at the opener).
  `{{`/`}}` count as two braces, `@[` is closed by `]`;
- scopes: `end X` with nothing open, an `end` whose name does not match the innermost open
  `namespace`/`section` (a bare `end` closes an anonymous `section` or `mutual`), errors at
  the `end`; a namespace or a named section still open at the end of the file is a
  **warning**, since Lean closes them implicitly there (an anonymous `section` left open is
  not reported at all: `noncomputable section` to the end of the file is an idiom);
- a `theorem`, `lemma`, `def`, `abbrev`, `instance` or `example` with no body: no bracket-free
  `:=`, `where`, `|` or `by`. `axiom`, `opaque`, `structure`, `class` and `inductive` may
  legitimately have none.

Columns are 1-based characters, ends exclusive (`chalicelib.domain.diagnostics`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from chalicelib.domain.diagnostics import Diagnostic, Severity
from chalicelib.parsers.lean_brackets import with_depth
from chalicelib.parsers.lean_commands import skip_prefix, split_commands
from chalicelib.parsers.lean_lexer import Token, tokenize
from chalicelib.parsers.lean_syntax import CLOSE_BRACKETS, OPEN_BRACKETS

LEAN_TOOL = "lean-structure"

BODYLESS_KINDS = frozenset({"theorem", "lemma", "def", "abbrev", "instance", "example"})
_SCOPE_WORDS = frozenset({"namespace", "section", "mutual", "end"})
# Modifiers of Lean's module system that `lean_syntax.MODIFIERS` does not list yet
# (`@[expose] public section`).
_MORE_MODIFIERS = frozenset({"public", "meta"})
_COMMENT_MARK = re.compile(r"/-|-/")
_CLOSED_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def lean_diagnostics(path: str, text: str) -> list[Diagnostic]:
    """Structural errors of one Lean file (unsorted; see the module docstring)."""
    tokens = tokenize(text)
    code = [t for t in tokens if t.kind not in ("comment", "doc", "moddoc")]
    found = [
        *(_at(path, t, msg) for t, msg in _unterminated(tokens)),
        *(_at(path, t, msg) for t, msg in _bracket_problems(code)),
        *(_at(path, t, msg, s, last) for t, msg, s, last in _scope_problems(code)),
        *(_at(path, t, msg, "error", last) for t, msg, last in _bodyless(code)),
    ]
    return found


def _at(
    path: str, token: Token, message: str, severity: Severity = "error", last: Token | None = None
) -> Diagnostic:
    """A diagnostic from `token`'s start to the end of `last` (or of `token`'s first line)."""
    last = last or token
    end_column = last.col + len(last.text.split("\n", 1)[0])
    return Diagnostic(
        path, token.line, token.col + 1, last.line, end_column + 1, severity, message, LEAN_TOOL
    )


def _unterminated(tokens: Sequence[Token]) -> Iterator[tuple[Token, str]]:
    for token in tokens:
        if token.kind in ("comment", "doc", "moddoc") and token.text.startswith("/-"):
            if not _comment_closed(token.text):
                yield _opening(token, 2), "unterminated comment: `/-` without `-/`"
        elif token.kind == "string" and not _string_closed(token.text):
            yield _opening(token, token.text.index('"') + 1), "unterminated string"


def _opening(token: Token, width: int) -> Token:
    """The first `width` characters of a token, as a token (for a short span)."""
    return token._replace(text=token.text[:width], end_line=token.line)


def _comment_closed(text: str) -> bool:
    depth = 1
    for mark in _COMMENT_MARK.finditer(text, 2):
        depth += 1 if mark.group() == "/-" else -1
        if depth == 0:
            return True
    return False


def _string_closed(text: str) -> bool:
    if text.startswith('"'):
        return _CLOSED_STRING.fullmatch(text) is not None
    return len(text) > text.index('"') + 1 and text.endswith('"')  # interpolated: `s!"…"`


def _split_braces(code: Sequence[Token]) -> Iterator[Token]:
    """`{{` and `}}` as two one-character tokens (the lexer keeps them whole)."""
    for token in code:
        if token.kind == "sym" and token.text in ("{{", "}}"):
            yield token._replace(text=token.text[0])
            yield token._replace(text=token.text[0], col=token.col + 1)
        else:
            yield token


def _bracket_problems(code: Sequence[Token]) -> Iterator[tuple[Token, str]]:
    open_stack: list[Token] = []
    for token in _split_braces(code):
        if token.kind != "sym":
            continue
        if token.text in OPEN_BRACKETS:
            open_stack.append(token)
        elif token.text in CLOSE_BRACKETS:
            yield from _close(open_stack, token)
    for opener in open_stack:
        yield opener, f"unclosed `{opener.text}`: no matching `{OPEN_BRACKETS[opener.text]}`"


def _close(open_stack: list[Token], token: Token) -> Iterator[tuple[Token, str]]:
    if not open_stack:
        yield token, f"unmatched `{token.text}`: nothing is open"
        return
    top = open_stack[-1]
    if OPEN_BRACKETS[top.text] == token.text:
        open_stack.pop()
        return
    where = f"line {top.line}, column {top.col + 1}"
    expected = OPEN_BRACKETS[top.text]
    yield token, f"mismatched `{token.text}`: expected `{expected}` for `{top.text}` at {where}"
    # Recover: close up to a matching opener if one is open, else drop the stray closer.
    for depth in range(len(open_stack) - 1, -1, -1):
        if OPEN_BRACKETS[open_stack[depth].text] == token.text:
            del open_stack[depth:]
            return


def _keyword_at(command: Sequence[Token]) -> int:
    """Index of a command's keyword: after docstrings, attributes and modifiers."""
    at = skip_prefix(command)
    while at < len(command) and command[at].text in _MORE_MODIFIERS:
        at = skip_prefix(command, at + 1)
    return at


@dataclass(frozen=True)
class _Scope:
    kind: str  # "namespace", "section" or "mutual"
    name: str  # one component; "" for an anonymous section and `mutual`
    keyword: Token
    last: Token  # the last token of the opening command's name


def _scope_problems(
    code: Sequence[Token],
) -> Iterator[tuple[Token, str, Severity, Token]]:
    scopes: list[_Scope] = []
    for command in split_commands(code):
        at = _keyword_at(command)
        if at >= len(command) or command[at].kind != "ident":
            continue
        keyword = command[at]
        if keyword.text not in _SCOPE_WORDS:
            continue
        name_token = _name_after(command, at)
        name = name_token.text if name_token else ""
        if keyword.text == "end":
            yield from _end(scopes, keyword, name, name_token or keyword)
            continue
        parts = name.split(".") if name and keyword.text != "mutual" else [""]
        scopes += [_Scope(keyword.text, part, keyword, name_token or keyword) for part in parts]
    reported: set[Token] = set()
    for scope in scopes:
        if scope.kind == "section" and not scope.name:
            continue  # `noncomputable section` to the end of the file is an idiom
        if scope.keyword not in reported:
            reported.add(scope.keyword)
            label = f"{scope.kind} {_full_name(scopes, scope)}".strip()
            message = f"`{label}` is not closed by `end` before the end of the file"
            yield scope.keyword, message, "warning", scope.last


def _full_name(scopes: Sequence[_Scope], scope: _Scope) -> str:
    return ".".join(s.name for s in scopes if s.keyword is scope.keyword)


def _name_after(command: Sequence[Token], at: int) -> Token | None:
    if at + 1 < len(command) and command[at + 1].kind == "ident":
        following = command[at + 1]
        return following if following.line == command[at].line else None
    return None


def _end(
    scopes: list[_Scope], keyword: Token, name: str, last: Token
) -> Iterator[tuple[Token, str, Severity, Token]]:
    parts = name.split(".") if name else [""]
    label = f"end {name}".strip()
    if not scopes:
        what = f"`namespace {name}` or `section {name}`" if name else "`section` or `mutual`"
        yield keyword, f"`{label}` without a matching {what}", "error", last
        return
    innermost = scopes[-len(parts) :] if len(parts) <= len(scopes) else scopes
    expected = [s.name for s in innermost]
    if expected != parts:
        top = scopes[-1]
        opened = f"{top.kind} {_full_name(scopes, top)}".strip()
        message = f"`{label}` does not match the innermost open scope `{opened}`"
        yield keyword, message, "error", last
    del scopes[-min(len(parts), len(scopes)) :]


def _bodyless(code: Sequence[Token]) -> Iterator[tuple[Token, str, Token]]:
    for command in split_commands(code):
        at = _keyword_at(command)
        if at >= len(command) or command[at].kind != "ident":
            continue
        keyword = command[at]
        if keyword.text not in BODYLESS_KINDS or _has_body(command, at + 1):
            continue
        name = _name_after(command, at) if keyword.text != "example" else None
        label = f"{keyword.text} {name.text}" if name else keyword.text
        message = f"`{label}` has no body: expected `:=`, `where`, `|` or `by`"
        yield keyword, message, name or keyword


def _has_body(command: Sequence[Token], start: int) -> bool:
    for i, depth in with_depth(command, start):
        token = command[i]
        if depth == 0 and token.text in (":=", "|", "where", "by"):
            return True
    return False
