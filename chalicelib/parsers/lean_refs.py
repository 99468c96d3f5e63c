"""Which identifiers of a declaration are uses of other declarations. Pure, table-driven.

Local names are collected once per declaration, without scoping: a name bound anywhere in
it is skipped everywhere in it. They are the declaration's header binders, fields and
constructor binders (see `lean_decl`, `lean_members`), section variables and universes, and
these cheap cases:

- `fun x ⟨a, b⟩ (y : T) =>`, `λ x =>`, `∀ x y,`, `∃ x ∈ s,`, `∑ i in s,` (the run of names,
  groups and ⟨patterns⟩ right after the binder word);
- `intro x y`, `rintro ⟨x, hx⟩`, `obtain ⟨x, hx⟩ := h`, `ext x`, `next x =>`, `case tag x =>`,
  `rcases h with ⟨x, hx⟩` (names on the same line, up to `:=`, `:`, `=>`, `;`);
- `let x :=`, `have h :`, `set x :=`, `let ⟨a, b⟩ :=` (the next name or pattern);
- match arms `| some x, y :: ys =>` on one line: every undotted name, except one applied to
  arguments (`some` here), which stays a reference to the constructor;
- the names that start the entries of a `where` block (instance fields, auxiliary defs).

Never references: keywords and command words (`lean_syntax.NOT_REFERENCES`), tactic names
where a tactic starts (`lean_syntax.TACTICS`), names Lean would auto-bind (one letter plus
digits, subscripts or primes: `a`, `x₁`, `h'`), `.field` and `|>.field` access, name
literals, a name right before a `:=` that is not the declaration's own separator (field
assignments, named arguments), and dotted names whose first part is local (`h.symm`).
Guillemets are dropped: `«weird name»` is used as `weird name`, as it is declared.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence, Set

from chalicelib.parsers.lean_brackets import closer, group_names, is_sym
from chalicelib.parsers.lean_lexer import Token
from chalicelib.parsers.lean_syntax import (
    AUTO_BOUND,
    INTRO_TACTICS,
    LAMBDA_WORDS,
    LOCAL_WORDS,
    NOT_REFERENCES,
    OPEN_BRACKETS,
    QUANTIFIERS,
    RUN_STOPS,
    TACTIC_LEADS,
    TACTICS,
    WITH_TACTICS,
)

_RUN_STOPS = frozenset({":=", ":", "=>", ";", "<;>", "↦"})
_MAX_RUN = 64


def _binder_run(tokens: Sequence[Token], i: int) -> list[str]:
    """Names, groups and patterns right after a binder word at tokens[i - 1]."""
    names: list[str] = []
    end = min(len(tokens), i + _MAX_RUN)
    while i < end:
        token = tokens[i]
        if token.kind == "ident" and token.text not in RUN_STOPS:
            names.append(token.text)
        elif token.kind == "sym" and token.text in OPEN_BRACKETS:
            stop = closer(tokens, i, _MAX_RUN)
            names += group_names(tokens, i, stop)
            i = stop
        else:
            break
        i += 1
    return names


def _line_run(tokens: Sequence[Token], i: int) -> list[str]:
    """Names on the line of tokens[i - 1] from tokens[i], up to a stop symbol or keyword."""
    names: list[str] = []
    line = tokens[i - 1].end_line
    end = min(len(tokens), i + _MAX_RUN)
    while i < end and tokens[i].line == line:
        token = tokens[i]
        if token.kind == "sym" and token.text in _RUN_STOPS:
            break
        if token.kind == "ident":
            if token.text in RUN_STOPS:
                break
            names.append(token.text)
        i += 1
    return names


def _after_with(tokens: Sequence[Token], i: int) -> list[str]:
    line = tokens[i].end_line
    for j in range(i + 1, min(len(tokens), i + _MAX_RUN)):
        if tokens[j].line != line:
            break
        if tokens[j].text == "with":
            return _line_run(tokens, j + 1)
    return []


def _local(tokens: Sequence[Token], i: int) -> list[str]:
    """`let x ...`, `have h (y : T) : ...`, `let ⟨a, b⟩ := ...`."""
    if i + 1 >= len(tokens):
        return []
    following = tokens[i + 1]
    if following.kind == "ident":
        return [following.text, *_binder_run(tokens, i + 2)]
    if is_sym(following, "⟨"):
        return group_names(tokens, i + 1, closer(tokens, i + 1, _MAX_RUN))
    return []


def _case(tokens: Sequence[Token], i: int) -> list[str]:
    return _line_run(tokens, i + 2) if i + 2 < len(tokens) else []


def _arm(tokens: Sequence[Token], i: int) -> list[str]:
    """Names bound by a one-line match arm `| pattern =>` starting at tokens[i]."""
    line, j, end = tokens[i].line, i + 1, min(len(tokens), i + _MAX_RUN)
    while j < end and tokens[j].line == line and not is_sym(tokens[j], "=>"):
        j += 1
    if j >= end or not is_sym(tokens[j], "=>"):
        return []
    pattern = tokens[i + 1 : j]
    names = []
    for k, token in enumerate(pattern):
        if token.kind != "ident" or "." in token.text or token.text in RUN_STOPS:
            continue
        following = pattern[k + 1] if k + 1 < len(pattern) else None
        applied = following is not None and (
            following.kind in ("ident", "number") or is_sym(following, "(", "⟨")
        )
        if not applied:
            names.append(token.text)
    return names


_Handler = Callable[[Sequence[Token], int], list[str]]
_HANDLERS: dict[str, _Handler] = {
    **dict.fromkeys(LAMBDA_WORDS | QUANTIFIERS, lambda ts, i: _binder_run(ts, i + 1)),
    **dict.fromkeys(INTRO_TACTICS, lambda ts, i: _line_run(ts, i + 1)),
    **dict.fromkeys(LOCAL_WORDS, _local),
    "case": _case,
    "case'": _case,
}


_TRIGGERS = frozenset(_HANDLERS) | WITH_TACTICS | {"|"}


def local_names(tokens: Sequence[Token]) -> set[str]:
    """Names bound inside a declaration's tokens (see the module docstring)."""
    names: set[str] = set()
    for i, token in enumerate(tokens):
        if token.text not in _TRIGGERS or token.kind not in ("ident", "sym"):
            continue
        handler = _HANDLERS.get(token.text)
        if handler is not None:
            names.update(handler(tokens, i))
        if token.text in WITH_TACTICS:
            names.update(_after_with(tokens, i))
        if token.text == "|":
            names.update(_arm(tokens, i))
    return names


class Bound:
    """Names bound by any of several sets, without copying them into one."""

    def __init__(self, *sets: Set[str]) -> None:
        self._sets = sets

    def __contains__(self, name: object) -> bool:
        for names in self._sets:  # noqa: SIM110 - a loop is cheaper than any() here
            if name in names:
                return True
        return False


def is_local(name: str, bound: Container[str]) -> bool:
    head = name.split(".", 1)[0]
    return head in bound or AUTO_BOUND.fullmatch(head) is not None


def _is_tactic(tokens: Sequence[Token], i: int) -> bool:
    """Whether tokens[i] is a tactic name where a tactic starts."""
    if tokens[i].text not in TACTICS:
        return False
    return tokens[i].first or i == 0 or tokens[i - 1].text in TACTIC_LEADS


def reference_names(
    tokens: Sequence[Token], skip: Set[Token], bound: Container[str], own: Token | None
) -> Iterator[tuple[str, int]]:
    """(name, line) of each use of a global name in `tokens`, first occurrence only.
    `own` is the declaration's separator: a name before it is not a field assignment."""
    seen: set[str] = set()
    for i, token in enumerate(tokens):
        if token.kind != "ident" or token.text in seen or token in skip:
            continue
        if token.text in NOT_REFERENCES or is_local(token.text, bound) or _is_tactic(tokens, i):
            continue
        if i and is_sym(tokens[i - 1], "|>."):  # `x |>.trans y`: field notation
            continue
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if following is not None and is_sym(following, ":=") and following != own:
            continue
        seen.add(token.text)
        yield token.text.replace("«", "").replace("»", ""), token.line
