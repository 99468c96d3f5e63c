"""Lean 4: text in, chunks, symbols and references out. Pure, never raises, linear time.

Lean has no tree-sitter grammar here, so this is a hand-written reader in layers:
`lean_lexer` (tokens, nested comments), `lean_commands` (where commands start),
`lean_scope` (namespaces, sections, opens), `lean_decl` and `lean_members` (one declaration,
its fields and constructors), `lean_brackets` (bracket-aware helpers), `lean_refs` (which
identifiers are uses), `lean_syntax` (the word tables); `domain.scoped_names` resolves names
to declarations for the repository-wide graph.

Names. A declaration's qualified name is the current namespace joined with its declared name
(`def Nat.foo` inside `namespace A` is `A.Nat.foo`); `_root_.foo` is `foo`; `private` and
`protected` names are qualified the same way (Lean mangles private names, but they are
resolved by their written name within the file). Anonymous declarations: `example@<line>`
(line of the keyword, namespace-qualified like the rest: `A.example@12`; no identifier can
spell `@`, so nothing resolves to an example), and an anonymous `instance : Add (Pair a)` is
`instAddPair` (`inst` + the capitalised last parts of the global names in its class, close to
Lean's own scheme; a repeated name gets `_1`, `_2`). A nameless `def` (malformed) is
`def@<line>`. Fields and constructors are symbols of kind `field`/`constructor` named `S.x`,
`T.cons`, their container the type's qualified name; an implicit `S.mk` spans the whole
structure. Declarations themselves have no container (namespaces are not symbols).

Spans. A declaration spans its first token (docstring, attribute, modifier, or an
`open ... in` / `set_option ... in` prefix) through its last code token; comments after it
are module lines. Its statement runs from the keyword line to the separator's line (see
`lean_decl`), its body from the first token after the separator to the end (None without a
separator or when nothing follows it): `theorem t : P := by` puts line 1 in both.
`incomplete` is set when `sorry` or `admit` occurs in the statement or body as a word
(not in a comment or string).

Chunks. One per declaration (kind = the Lean kind, symbol = the qualified name), and
"module" chunks for the lines between declarations (imports, namespace/open/variable lines,
comments, `#eval`), blank ends trimmed, a long stretch cut into windows of about 40 lines
(`text.window_spans`); consecutive module lines are always one stretch, and a short one
between two declarations (an `end Foo`) stays its own chunk rather than joining a
declaration's. Together the chunks cover every non-blank line exactly once.

References. `import X.Y` is a Reference of kind "import". Each declaration's uses are kind
"name", source its qualified name, role "statement" or "proof", one per name and role (at
its first line), scopes from `ScopeState.scopes`. Module commands (`#eval`, `attribute`,
`variable` types, `notation` ...) give references with no source and no role.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass

from chalicelib.domain.models import Chunk, Reference, Symbol
from chalicelib.domain.scoped_names import ROOT
from chalicelib.domain.tokens import term_counts
from chalicelib.parsers.lean_brackets import closer, header_binders, is_sym, with_depth
from chalicelib.parsers.lean_commands import skip_prefix, split_commands
from chalicelib.parsers.lean_decl import Declaration, parse_declaration
from chalicelib.parsers.lean_lexer import Token, tokenize
from chalicelib.parsers.lean_refs import Bound, is_local, local_names, reference_names
from chalicelib.parsers.lean_scope import ScopeState, join
from chalicelib.parsers.lean_syntax import (
    DECLARATION_KINDS,
    IN_PREFIX_COMMANDS,
    NAMELESS_COMMANDS,
    NOT_REFERENCES,
    SORRY_WORDS,
)
from chalicelib.parsers.text import split_lines, window_spans

Span = tuple[int, int, str, str]


@dataclass(frozen=True)
class _Context:
    """What an `open ... in` / `variable ... in` prefix adds for one declaration."""

    once: list[str]
    bound: set[str]


def _bare(name: str) -> str:
    return name.removeprefix(ROOT)


class _Reader:
    """Reads commands in order, keeping scope state and collecting records."""

    def __init__(self) -> None:
        self.scope = ScopeState()
        self.symbols: list[Symbol] = []
        self.references: list[Reference] = []
        self.spans: list[Span] = []
        self._names: set[str] = set()

    def command(self, code: Sequence[Token]) -> None:
        """Read one command; `open ... in` style prefixes scope what follows them."""
        once: list[str] = []
        bound: set[str] = set()
        start = 0
        while (head := skip_prefix(code, start)) < len(code):
            word = code[head]
            if word.kind == "ident" and word.text in DECLARATION_KINDS:
                self._declaration(code, head, _Context(once, bound))
                return
            rest = _after_in(code, head) if word.text in IN_PREFIX_COMMANDS else None
            if rest is None:
                self._module(code, head, once)
                return
            prefix = code[head : rest - 1]
            if word.text == "open":
                once += [c for n in _open_names(prefix) for c in self.scope.open_candidates(n)]
            elif word.text in ("variable", "variables"):
                bound |= set(header_binders(prefix, 1))
            start = rest

    def _module(self, code: Sequence[Token], head: int, once: list[str]) -> None:
        word, args = code[head].text, code[head + 1 :]
        self._change_scope(word, code, head)
        if word == "import":
            imports = [t for t in args if t.kind == "ident"]
            self.references += [Reference(t.text, "import", t.line) for t in imports]
            return
        if word in NAMELESS_COMMANDS or word == "export":
            return
        if word == "attribute" and args and is_sym(args[0], "["):
            args = args[closer(args, 0) + 1 :]
        scopes = self.scope.scopes(None, once)
        for text, line in reference_names(args, set(), self.scope.bound(), None):
            self.references.append(Reference(text, "name", line, None, scopes))

    def _change_scope(self, word: str, code: Sequence[Token], head: int) -> None:
        args = code[head + 1 :]
        name = args[0].text if args and args[0].kind == "ident" else None
        if word == "namespace" and name:
            self.scope.enter_namespace(name)
        elif word in ("section", "mutual"):
            self.scope.enter(word)
        elif word == "end":
            self.scope.end(name if args and args[0].line == code[head].line else None)
        elif word in ("open", "export"):
            self.scope.open(_open_names(code[head:]))
        elif word in ("universe", "universes"):
            self.scope.bind(t.text for t in args if t.kind == "ident")
        elif word in ("variable", "variables"):
            self.scope.bind(header_binders(code, head + 1))

    def _declaration(self, code: Sequence[Token], head: int, ctx: _Context) -> None:
        decl = parse_declaration(code, head)
        start = code[0].line
        qualified = self._qualified(decl, ctx.bound)
        self.spans.append((start, decl.end_line, decl.kind, qualified))
        tokens = decl.statement + decl.body
        self.symbols.append(
            Symbol(
                name=_bare(decl.name) if decl.name else qualified.rsplit(".", 1)[-1],
                qualified_name=qualified,
                kind=decl.kind,
                start_line=start,
                end_line=decl.end_line,
                statement=decl.statement_span,
                body=decl.body_span,
                incomplete=any(t.kind == "ident" and t.text in SORRY_WORDS for t in tokens),
            )
        )
        for member in decl.members:
            lines = (member.start_line, member.end_line) if member.start_line else None
            first, last = lines or (start, decl.end_line)
            member_name = join(qualified, member.name)
            self.symbols.append(
                Symbol(member.name, member_name, member.kind, first, last, container=qualified)
            )
        own = qualified.rsplit(".", 1)[0] if decl.name and "." in _bare(decl.name) else None
        bound = Bound(self.scope.bound(), ctx.bound, decl.bound, local_names(tokens))
        scopes = self.scope.scopes(own, ctx.once)
        for role, part in (("statement", decl.statement), ("proof", decl.body)):
            for text, line in reference_names(part, decl.skip, bound, decl.separator):
                self.references.append(Reference(text, "name", line, qualified, scopes, role))

    def _qualified(self, decl: Declaration, bound: Set[str]) -> str:
        if decl.name is not None:
            named = _bare(decl.name) if decl.name.startswith(ROOT) else None
            named = named or join(self.scope.namespace, decl.name)
            self._names.add(named)
            return named
        if decl.kind == "instance":
            local = Bound(self.scope.bound(), bound, decl.bound)
            words = [
                w.rsplit(".", 1)[-1]
                for w in decl.instance_type
                if w not in NOT_REFERENCES and not is_local(w, local)
            ]
            base = join(
                self.scope.namespace, "inst" + "".join(w[:1].upper() + w[1:] for w in words)
            )
        else:
            base = join(self.scope.namespace, f"{decl.kind}@{decl.keyword_line}")
        qualified, n = base, 0
        while qualified in self._names:
            n += 1
            qualified = f"{base}_{n}"
        self._names.add(qualified)
        return qualified


def _after_in(code: Sequence[Token], head: int) -> int | None:
    """Index after the bracket-free `in` of an `open ... in` style prefix, if any."""
    for i, depth in with_depth(code, head):
        if depth == 0 and code[i].kind == "ident" and code[i].text == "in":
            return i + 1 if i + 1 < len(code) else None
    return None


def _open_names(tokens: Sequence[Token]) -> list[str]:
    """Namespaces named by `open A B (x) hiding y renaming z → w in`: A and B."""
    names = []
    for i, depth in with_depth(tokens, 1):
        token = tokens[i]
        if token.text in ("in", "hiding", "renaming"):
            break
        if depth == 0 and token.kind == "ident" and token.text != "scoped":
            names.append(token.text)
    return names


def _module_chunks(lines: Sequence[str], first: int, last: int) -> list[Chunk]:
    """Module chunks over lines first..last (1-based, inclusive), blank ends trimmed."""
    while first <= last and not lines[first - 1].strip():
        first += 1
    while last >= first and not lines[last - 1].strip():
        last -= 1
    if first > last:
        return []
    part = lines[first - 1 : last]
    return [
        Chunk(first + s - 1, first + e - 1, "module", None, term_counts("\n".join(part[s - 1 : e])))
        for s, e in window_spans(part)
    ]


def _chunks(lines: Sequence[str], spans: Sequence[Span]) -> list[Chunk]:
    chunks: list[Chunk] = []
    cursor = 1
    for first, last, kind, symbol in spans:
        start, end = max(first, cursor), min(last, len(lines))
        if end < start:
            continue
        chunks += _module_chunks(lines, cursor, start - 1)
        text = "\n".join(lines[start - 1 : end])
        chunks.append(Chunk(start, end, kind, symbol, term_counts(text)))
        cursor = end + 1
    return chunks + _module_chunks(lines, cursor, len(lines))


def chunk_lean(text: str) -> tuple[tuple[Chunk, ...], tuple[Symbol, ...], tuple[Reference, ...]]:
    """`parse_lean` in the shape `parse_blob`'s registry takes."""
    chunks, symbols, references = parse_lean(text)
    return tuple(chunks), tuple(symbols), tuple(references)


def parse_lean(text: str) -> tuple[list[Chunk], list[Symbol], list[Reference]]:
    """Chunks, symbols and references of one Lean file (see the module docstring)."""
    reader = _Reader()
    for command in split_commands(tokenize(text)):
        code = [t for t in command if t.kind != "comment"]
        if code:
            reader.command(code)
    return _chunks(split_lines(text), reader.spans), reader.symbols, reader.references
