"""One Lean declaration command, read from its tokens: kind, name, statement, body, members.

Rules (see `chalicelib.parsers.lean` for how spans and names become records):

- The separator between statement and body is the first token outside brackets that is
  `:=` or `where`, or a `|` that begins a line (`def f : Nat → Nat` / `| 0 => ...`); for
  `inductive` and `class inductive` any bracket-free `|` (`inductive C | a | b`). `:=` and
  `where` belong to the statement; a `|` belongs to the body.
- Header binders are the names in `(x y : T)`, `{a}`, `⦃x⦄`, `[inst : C a]` groups before the
  statement's bracket-free `:`; `[C a]` binds nothing.
- Members (fields, constructors) come from `lean_members`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.parsers.lean_brackets import closer, header_binders, is_sym, with_depth
from chalicelib.parsers.lean_lexer import Token
from chalicelib.parsers.lean_members import (
    Member,
    read_constructors,
    read_fields,
    read_where_names,
)
from chalicelib.parsers.lean_syntax import (
    CLOSE_BRACKETS,
    CONSTRUCTOR_KINDS,
    DECLARATION_KINDS,
    FIELD_KINDS,
    OPEN_BRACKETS,
)


@dataclass
class Declaration:
    kind: str
    name: str | None
    keyword_line: int
    end_line: int
    statement: list[Token]
    body: list[Token]
    members: list[Member] = field(default_factory=list)
    bound: set[str] = field(default_factory=set)
    skip: set[Token] = field(default_factory=set)
    instance_type: list[str] = field(default_factory=list)
    separator: Token | None = None

    @property
    def statement_span(self) -> tuple[int, int]:
        return (self.keyword_line, self.statement[-1].end_line if self.statement else 0)

    @property
    def body_span(self) -> tuple[int, int] | None:
        return (self.body[0].line, self.end_line) if self.body else None


def _separator(tokens: Sequence[Token], start: int, kind: str) -> int | None:
    """Index of the first bracket-free `:=`, `where` or separating `|` (module docstring)."""
    any_bar = kind in CONSTRUCTOR_KINDS
    depth = 0
    for i in range(start, len(tokens)):
        token = tokens[i]
        if token.kind == "ident":
            if depth == 0 and token.text == "where":
                return i
        elif token.kind != "sym":
            continue
        elif token.text in OPEN_BRACKETS:
            depth += 1
        elif token.text in CLOSE_BRACKETS:
            depth = max(depth - 1, 0)
        elif depth == 0 and (
            token.text == ":=" or (token.text == "|" and (any_bar or token.first))
        ):
            return i
    return None


def _name(tokens: Sequence[Token], i: int, kind: str) -> tuple[int | None, int]:
    """Index of the declared name (None if anonymous) and the index after it."""
    priority = i + 1 < len(tokens) and is_sym(tokens[i], "(") and tokens[i + 1].text == "priority"
    if kind == "instance" and priority:
        i = closer(tokens, i) + 1
    if kind != "example" and i < len(tokens) and tokens[i].kind == "ident":
        return i, i + 1
    return None, i


def _universes(tokens: Sequence[Token], i: int) -> tuple[list[str], int]:
    """Universe parameters `.{u, v}` right after a name, and the index after them."""
    if i + 1 < len(tokens) and is_sym(tokens[i], ".") and is_sym(tokens[i + 1], "{"):
        end = closer(tokens, i + 1)
        return [t.text for t in tokens[i + 2 : end] if t.kind == "ident"], end + 1
    return [], i


def parse_declaration(tokens: Sequence[Token], keyword: int) -> Declaration:
    """The declaration whose keyword is tokens[keyword] (code tokens only, no comments)."""
    kind = DECLARATION_KINDS[tokens[keyword].text]
    i = keyword + 1
    if kind == "class" and i < len(tokens) and tokens[i].text == "inductive":
        i += 1
    body_kind = "inductive" if tokens[i - 1].text == "inductive" else kind
    name_at, i = _name(tokens, i, kind)
    universes, i = _universes(tokens, i)
    sep = _separator(tokens, i, body_kind)
    split = len(tokens) if sep is None else sep + (0 if is_sym(tokens[sep], "|") else 1)
    decl = Declaration(
        kind=kind,
        name=tokens[name_at].text.replace("«", "").replace("»", "") if name_at else None,
        keyword_line=tokens[keyword].line,
        end_line=tokens[-1].end_line,
        statement=list(tokens[keyword:split]),
        body=list(tokens[split:]),
    )
    decl.bound.update(universes, header_binders(tokens, i))
    if name_at is not None:
        decl.skip.add(tokens[name_at])
    if kind == "instance" and name_at is None:
        decl.instance_type = _class_words(tokens[i:split])
    decl.separator = tokens[sep] if sep is not None else None
    if body_kind in CONSTRUCTOR_KINDS:
        found = read_constructors(decl.body)
    elif body_kind in FIELD_KINDS:
        found = read_fields(decl.body)
    else:
        found = read_where_names(decl.body, sep is not None and tokens[sep].text == "where")
    decl.members = found.members
    decl.bound |= found.bound
    decl.skip |= found.skip
    return decl


def _class_words(header: Sequence[Token]) -> list[str]:
    """The identifiers of an instance's class after its bracket-free `:` (for its name)."""
    colon = next((i for i, d in with_depth(header) if d == 0 and is_sym(header[i], ":")), None)
    if colon is None:
        return []
    return [t.text for t in header[colon + 1 :] if t.kind == "ident"]
