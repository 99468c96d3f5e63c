"""Members of a Lean declaration: fields, constructors, and `where`-block entry names.

- Fields of a structure or class are the names that start an entry of its `where` block (an
  entry starts on a line indented no deeper than the first), followed by binders and `:`;
  `(x : T)` entries count too, `x := v` (a default for a parent's field) does not. A `mk ::`
  entry names the constructor; otherwise the constructor is `mk`, spanning the whole
  structure. A `deriving` line ends the fields.
- Constructors of an inductive are the names after a bracket-free `|`; their binders are
  local names.
- In other declarations, the names starting the entries of a `where` block (instance fields,
  auxiliary definitions) are local: `add := Point.add` does not use a global `add`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from chalicelib.parsers.lean_brackets import closer, header_binders, is_sym, with_depth
from chalicelib.parsers.lean_lexer import Token
from chalicelib.parsers.lean_syntax import MODIFIERS


@dataclass(frozen=True)
class Member:
    """A field or constructor: its name inside the declaration and its lines."""

    name: str
    kind: str
    start_line: int
    end_line: int


@dataclass
class Members:
    """What a declaration's body declares: members, local names, and the name tokens that
    are declarations rather than uses."""

    members: list[Member] = field(default_factory=list)
    bound: set[str] = field(default_factory=set)
    skip: set[Token] = field(default_factory=set)


def read_constructors(body: Sequence[Token]) -> Members:
    """Constructors of an inductive: the names after a bracket-free `|`."""
    found = Members()
    bars = [i for i, d in with_depth(body) if d == 0 and is_sym(body[i], "|")]
    stop = next((i for i, t in enumerate(body) if t.first and t.text == "deriving"), len(body))
    bars = [i for i in bars if i < stop] + [stop]
    for bar, following in pairwise(bars):
        if bar + 1 >= following or body[bar + 1].kind != "ident":
            continue
        name = body[bar + 1]
        found.skip.add(name)
        entry = body[bar:following]
        found.bound.update(header_binders(entry, 2))
        found.members.append(Member(name.text, "constructor", body[bar].line, entry[-1].end_line))
    return found


def _entries(body: Sequence[Token]) -> Iterator[Sequence[Token]]:
    """The entries of a `where` block: an entry starts on a line indented no deeper than the
    first line of the block."""
    column = next((t.col for t in body if t.first), body[0].col if body else 0)
    starts = [
        i
        for i, d in with_depth(body)
        if i == 0
        or (d == 0 and body[i].first and body[i].col <= column and not _is_doc(body[i - 1]))
    ]
    starts.append(len(body))
    for start, end in pairwise(starts):
        yield body[start:end]


def _is_doc(token: Token) -> bool:
    return token.kind == "doc"


def _entry_head(entry: Sequence[Token]) -> int:
    """Index of the first token of an entry after its docstring, attributes and modifiers."""
    i = 0
    while i < len(entry):
        token = entry[i]
        if token.kind == "doc" or token.text in MODIFIERS:
            i += 1
        elif is_sym(token, "@["):
            i = closer(entry, i) + 1
        else:
            break
    return i


def read_where_names(body: Sequence[Token], after_where: bool) -> Members:
    """Names that start the entries of a `where` block (instance fields, auxiliary defs);
    `after_where` when the body itself is that block."""
    found = Members()
    if after_where:
        start = 0
    elif not any(t.text == "where" for t in body):
        return found
    else:
        wheres = (i for i, d in with_depth(body) if d == 0 and body[i].text == "where")
        start = next(wheres, len(body) - 1) + 1
    for entry in _entries(body[start:]):
        head = _entry_head(entry)
        if head < len(entry) and entry[head].kind == "ident":
            found.skip.add(entry[head])
            found.bound.update([entry[head].text], header_binders(entry, head + 1))
    return found


def read_fields(body: Sequence[Token]) -> Members:
    """Fields and the constructor of a structure or class (`mk` spans 0..0 when implicit:
    the caller gives it the whole declaration's lines)."""
    found = Members()
    explicit = False
    for entry in _entries(body):
        head = _entry_head(entry)
        if head < len(entry) and entry[head].text == "deriving":
            break
        if head < len(entry):
            explicit = _read_entry(found, entry, head) or explicit
    if not explicit:
        found.members.insert(0, Member("mk", "constructor", 0, 0))
    return found


def _read_entry(found: Members, entry: Sequence[Token], head: int) -> bool:
    """Record the fields of one entry; True if it names the constructor (`mk ::`)."""
    first, last = entry[0].line, entry[-1].end_line
    i = head
    while i < len(entry) and entry[i].kind == "ident":
        i += 1
    names = [t.text for t in entry[head:i]]
    if len(names) == 1 and i < len(entry) and is_sym(entry[i], "::"):
        found.skip.add(entry[head])
        found.members.append(Member(names[0], "constructor", first, last))
        return True
    binders = header_binders(entry, i)
    colon = next((j for j, d in with_depth(entry, i) if d == 0 and is_sym(entry[j], ":")), None)
    if not names and is_sym(entry[head], "(", "{", "["):
        names = header_binders(entry, head)
    elif not names or colon is None or any(is_sym(t, ":=") for t in entry[i:colon]):
        return False
    found.skip.update(entry[head:i])
    found.bound.update(binders, names)
    found.members += [Member(name, "field", first, last) for name in names]
    return False
