"""Tree-sitter parsers: source text in, chunks, symbols and references out. Pure.

One parse and one query walk of the tree per file (`ts_languages.SPECS` holds each
language's query and naming rules; patterns anchored at the root node are matched from the
root only, which costs no walk); everything after that is a few passes over the captured
nodes in Python:

1. Definitions: captures named after a kind, deduplicated per node (`KIND_PRIORITY`), sorted,
   nested by byte range. A definition's qualified name joins the names of the scopes around
   it with "." in every language (`Outer.Inner.method`, Go `Type.Method`, Rust impl methods
   `Type.method`, C++ `ns.Class.method`); a `function` directly inside a class-like scope, or
   defined out of line under a qualified name (C++ `Box::put`), is a `method`.
2. Symbols: every definition except Rust impl blocks (those only scope and chunk).
3. References: imports as written (quotes stripped, Python `from M import a` -> `M.a`, Rust
   use trees expanded to `std::io::Read`), and calls by their callee as written when it is a
   plain dotted/scoped path (`os.path.join`, `self.x.y`, `std::sort`, `obj->m`), else the
   callee's last identifier (`f(x).g()` -> `g`). Names merely used are not recorded. A
   reference's source is the innermost definition around it.
4. Chunks: `layout.plan_spans` over the outline of chunk-kind definitions, whose chunk spans
   start at their decorators, wrappers (`export`, `template<...>`) and the comments right
   above them.

A C file (`.h` included) with lines only C++ has (`template <`, `namespace x {`, `class X`,
`public:`) is parsed as C++, and short `#ifdef __cplusplus` bodies (`extern "C" {`) are blanked
first in C and C++. When the file cannot be parsed, is larger than `MAX_PARSE_BYTES`, or
tokens that fit no construct (childless children of error nodes) make up more than
`MAX_ERROR_SHARE` of its bytes, the result is line windows with no symbols or references.
Language and Query objects are built once per language, on first use (or by `prepare`);
Parser objects once per language and thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

from chalicelib.domain.models import Chunk, Reference, Symbol
from chalicelib.parsers.layout import Outline, build_chunks, plan_spans, window_chunks
from chalicelib.parsers.text import split_lines
from chalicelib.parsers.ts_languages import (
    CHUNK_KINDS,
    CLASS_KINDS,
    KIND_PRIORITY,
    SCOPE_KINDS,
    SPECS,
    LanguageSpec,
    source_for,
    split_name,
    text_of,
)
from chalicelib.parsers.ts_references import attach_sources, find_references

log = logging.getLogger(__name__)

Parsed = tuple[tuple[Chunk, ...], tuple[Symbol, ...], tuple[Reference, ...]]

MAX_PARSE_BYTES = 4_000_000
MAX_ERROR_SHARE = 0.25

LANGUAGES: tuple[str, ...] = tuple(SPECS)


@dataclass(eq=False, slots=True)
class _Definition:
    node: Node
    kind: str
    parts: list[str]
    start_byte: int
    end_byte: int
    end_line: int
    qualified: str = ""
    container: str | None = None
    parent: _Definition | None = None
    children: list[_Definition] = field(default_factory=list)


@cache
def _language(language: str) -> Language:
    return Language(SPECS[language].grammar())


@cache
def _query(language: str) -> Query:
    """The language's query, plus its error nodes (one walk of the tree finds both)."""
    return Query(_language(language), SPECS[language].query + "(ERROR) @error\n")


@cache
def _top_query(language: str) -> Query | None:
    """The language's patterns anchored at the root node, if any."""
    source = SPECS[language].top_query
    if not source:
        return None
    query = Query(_language(language), source)
    main = _query(language)
    shared = _capture_names(query) & _capture_names(main)
    if shared:  # `_captures` merges the two by name
        raise ValueError(f"{language}: top-level captures also in the main query: {shared}")
    return query


def _capture_names(query: Query) -> set[str]:
    return {query.capture_name(i) for i in range(query.capture_count)}


def _captures(language: str, root: Node) -> dict[str, list[Node]]:
    """The nodes captured by the language's queries, by capture name. The top-level patterns
    only start at the root (a max start depth of 0 lets tree-sitter skip the rest of the
    tree), so they add no second walk."""
    captures = QueryCursor(_query(language)).captures(root)
    top = _top_query(language)
    if top is not None:
        cursor = QueryCursor(top)
        cursor.set_max_start_depth(0)
        captures.update(cursor.captures(root))
    return captures


_THREAD = threading.local()  # a Parser is stateful: one per thread (the local stack has several)


def _parser(language: str) -> Parser:
    parsers: dict[str, Parser] = _THREAD.__dict__.setdefault("parsers", {})
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = Parser(_language(language))
    return parser


def prepare(language: str) -> None:
    """Load the grammar and compile the query of `language` now rather than on first use."""
    _parser(language)
    _top_query(language)


def parse_source(language: str, text: str) -> Parsed:
    """Chunks, symbols and references of `text` in a tree-sitter `language` (see module doc)."""
    lines = split_lines(text)
    data = text.encode("utf-8")
    try:
        parsed = _parse(language, data)
        if parsed is not None:
            grammar, tree = parsed
            captures = _captures(grammar, tree.root_node)
            if _error_bytes(captures.get("error", ())) <= MAX_ERROR_SHARE * len(data):
                return _analyze(SPECS[grammar], captures, data, lines)
    except Exception:  # a parser bug must not fail the blob: fall back to windows, and say so
        log.warning("%s extraction failed; falling back to line windows", language, exc_info=True)
    return window_chunks(lines), (), ()


def chunker(language: str) -> Callable[[str], Parsed]:
    """`parse_source` bound to one language, for `parsers._CHUNKERS`."""

    def parse(text: str) -> Parsed:
        return parse_source(language, text)

    return parse


def _parse(language: str, data: bytes) -> tuple[str, Tree] | None:
    """The grammar used and the tree of `data` (in `language`, or in its dialect when the
    text shows one); None when the file is empty or too large."""
    if not data.strip() or len(data) > MAX_PARSE_BYTES:
        return None
    language, data = source_for(language, data)
    return language, _parser(language).parse(data)


def _error_bytes(errors: Iterable[Node]) -> int:
    """Bytes of the tokens tree-sitter could not fit into any construct: the childless
    children of error nodes (subtrees that did parse, even inside an error, are fine)."""
    return sum(
        child.end_byte - child.start_byte
        for node in errors
        for child in node.children
        if child.child_count == 0
    )


def _analyze(
    spec: LanguageSpec, captures: dict[str, list[Node]], data: bytes, lines: Sequence[str]
) -> Parsed:
    definitions = _definitions(spec, captures)
    symbols = tuple(_symbols(definitions))
    references = tuple(attach_sources(find_references(captures, data), definitions))
    roots = [d for d in definitions if d.parent is None]
    outline = _outline(spec, roots, data)
    return build_chunks(lines, plan_spans(lines, outline)), symbols, references


def _definitions(spec: LanguageSpec, captures: dict[str, list[Node]]) -> list[_Definition]:
    """Named definitions in source order, outer before inner, with qualified names."""
    chosen: dict[int, tuple[str, Node]] = {}
    for kind in KIND_PRIORITY:  # a node captured under several kinds keeps the first
        for node in captures.get(kind, ()):
            chosen.setdefault(node.id, (kind, node))
    found: list[_Definition] = []
    for kind, node in chosen.values():
        rule = spec.names.get(node.type)
        name = node.child_by_field_name("name") if rule is None else None
        parts = rule(node) if rule is not None else split_name(text_of(name))
        if parts:
            end_line = _end_line(node)
            found.append(_Definition(node, kind, parts, node.start_byte, node.end_byte, end_line))
    found.sort(key=lambda d: (d.start_byte, -d.end_byte))
    _nest(found)
    return found


def _nest(definitions: Sequence[_Definition]) -> None:
    """Qualified names, containers, children and method kinds, from byte-range nesting."""
    stack: list[tuple[_Definition, _Definition | None]] = []  # with the innermost scope
    for definition in definitions:
        while stack and stack[-1][0].end_byte < definition.end_byte:
            stack.pop()
        scope = None
        if stack:
            parent, scope = stack[-1]
            definition.parent = parent
            parent.children.append(definition)
        prefix = [scope.qualified] if scope is not None else []
        parts = definition.parts
        if definition.kind == "function" and (
            len(parts) > 1 or (scope is not None and scope.kind in CLASS_KINDS)
        ):
            definition.kind = "method"
        definition.qualified = ".".join(prefix + parts)
        definition.container = ".".join(prefix + parts[:-1]) or None
        stack.append((definition, definition if definition.kind in SCOPE_KINDS else scope))


def _symbols(definitions: Iterable[_Definition]) -> Iterable[Symbol]:
    for d in definitions:
        if d.kind == "impl":
            continue
        kind = "module" if d.kind == "package" else d.kind
        node = d.node
        start = node.start_point.row + 1
        yield Symbol(d.parts[-1], d.qualified, kind, start, d.end_line, d.container)


def _end_line(node: Node) -> int:
    """1-based last line of a node (a node ending in a newline ends on the line before)."""
    row, column = node.end_point
    return row + 1 if column > 0 or row == node.start_point.row else row


def _outline(spec: LanguageSpec, definitions: Iterable[_Definition], data: bytes) -> list[Outline]:
    """The chunk-kind definitions as layout outlines (others are looked through)."""
    outline: list[Outline] = []
    for d in definitions:
        children = _outline(spec, d.children, data)
        if d.kind not in CHUNK_KINDS:
            outline.extend(children)
            continue
        start = _chunk_start(spec, d.node, data)
        outline.append(Outline(start, d.end_line, d.kind, d.qualified, tuple(children)))
    return outline


def _chunk_start(spec: LanguageSpec, node: Node, data: bytes) -> int:
    """1-based first line of a definition's chunk: its leading comments, attributes and
    decorators, and the wrappers it is the first named child of."""
    row = node.start_point.row
    current = node
    while True:
        previous = current.prev_named_sibling
        while (
            previous is not None
            and previous.type in spec.leading
            and previous.end_point.row >= row - 1
            and _starts_line(previous, data)
        ):
            row = min(row, previous.start_point.row)
            current, previous = previous, previous.prev_named_sibling
        parent = current.parent
        if previous is None and parent is not None and parent.type in spec.wrappers:
            row = min(row, parent.start_point.row)
            current = parent
            continue
        return row + 1


def _starts_line(node: Node, data: bytes) -> bool:
    """Whether only whitespace precedes the node on its first line."""
    line_start = node.start_byte - node.start_point.column
    return not data[line_start : node.start_byte].strip()
