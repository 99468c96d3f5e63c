"""Cut a Lean token stream into commands, the way a reader skims a file.

A command starts at a token that begins its line and is a command word: a docstring or module
doc, `@[`, a modifier, a declaration keyword, a module command (`namespace`, `open`, `end`,
...; `deriving` only as `deriving instance`) or a `#command`. It does not start one when

- the current command is still only a prefix (docstring, attributes, modifiers): `@[simp]` on
  its own line belongs to the theorem below it;
- the current command is `open`/`set_option`/... ending in `in`: it scopes the next one;
- the current command is a declaration and the word is indented deeper than the
  declaration's first token (an `open ... in` or `instance` inside a proof).

A module command (not a declaration) also ends at any name in column 0, so unknown commands
(custom syntax, Lake's `package`) do not run into the `open` or `variable` before them.

Comments never start a command; they stay with the command before them.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.parsers.lean_lexer import Token
from chalicelib.parsers.lean_syntax import (
    DECLARATION_KINDS,
    IN_PREFIX_COMMANDS,
    MODIFIERS,
    MODULE_COMMANDS,
)

_COMMAND_WORDS = frozenset(DECLARATION_KINDS) | MODIFIERS | MODULE_COMMANDS
_PREFIX_KINDS = frozenset({"doc", "comment"})


def _starts_command(tokens: Sequence[Token], i: int) -> bool:
    token = tokens[i]
    if token.kind in ("doc", "moddoc", "hash") or (token.kind == "sym" and token.text == "@["):
        return True
    if token.kind != "ident" or token.text not in _COMMAND_WORDS:
        return False
    if token.text == "deriving":
        return i + 1 < len(tokens) and tokens[i + 1].text == "instance"
    return True


class _Command:
    """The command being collected, and just enough state to know when it may end."""

    def __init__(self) -> None:
        self.tokens: list[Token] = []
        self.keyword: Token | None = None
        self.last: Token | None = None
        self.column = 0
        self._attribute_depth = 0

    def add(self, token: Token) -> None:
        self.tokens.append(token)
        if token.kind == "comment":
            return
        if self.last is None:
            self.column = token.col
        self.last = token
        if self.keyword is None:
            self._track_prefix(token)

    def _track_prefix(self, token: Token) -> None:
        if self._attribute_depth:
            if token.kind == "sym" and token.text in ("[", "@["):
                self._attribute_depth += 1
            elif token.kind == "sym" and token.text == "]":
                self._attribute_depth -= 1
        elif token.kind == "sym" and token.text == "@[":
            self._attribute_depth = 1
        elif token.kind not in _PREFIX_KINDS and token.text not in MODIFIERS:
            self.keyword = token

    def ends_at_margin(self, token: Token) -> bool:
        """A module command ends at a name in column 0 (an unknown command, like Lake's
        `package`); a declaration does not (`def x :=` / `foo 1` continues it)."""
        if self.keyword is None or token.col or token.kind != "ident":
            return False
        return self.keyword.kind != "ident" or self.keyword.text not in DECLARATION_KINDS

    def may_end_before(self, token: Token) -> bool:
        if self.keyword is None:
            return not self.tokens
        if self.keyword.text in IN_PREFIX_COMMANDS and self.last and self.last.text == "in":
            return False
        if self.keyword.kind == "ident" and self.keyword.text in DECLARATION_KINDS:
            return token.col <= self.column
        return True


def split_commands(tokens: Sequence[Token]) -> list[list[Token]]:
    """The commands of a file, in order; every token lands in exactly one."""
    commands: list[list[Token]] = []
    current = _Command()
    for i, token in enumerate(tokens):
        starts = token.first and (_starts_command(tokens, i) or current.ends_at_margin(token))
        if starts and current.tokens and current.may_end_before(token):
            commands.append(current.tokens)
            current = _Command()
        current.add(token)
    if current.tokens:
        commands.append(current.tokens)
    return commands


def skip_prefix(code: Sequence[Token], start: int = 0) -> int:
    """Index of the first token after docstrings, attributes and modifiers."""
    i, depth = start, 0
    while i < len(code):
        token = code[i]
        if depth:
            depth += {"[": 1, "@[": 1, "]": -1}.get(token.text, 0) if token.kind == "sym" else 0
        elif token.kind == "sym" and token.text == "@[":
            depth = 1
        elif token.kind not in ("doc", "moddoc") and token.text not in MODIFIERS:
            return i
        i += 1
    return i
