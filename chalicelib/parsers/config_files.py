"""Configuration files (JSON, YAML, TOML): key paths as symbols, sections as chunks. Pure.

One tree-sitter parse per file, then a breadth-first walk over its mappings:

- Symbols: each mapping key, kind "key", qualified by its dotted key path as written
  (`tool.ruff.lint.select`, `services.web.image`, `scripts.build`), its container the parent
  path (`tool.ruff.lint`; None at top level). A key's span runs from its line to the last line
  of its value, trailing blank and comment lines left out. Keys are taken down to `MAX_DEPTH`
  levels of nesting as written: in JSON and YAML a level is one key, in TOML a table header
  (`[tool.poetry.group.dev]`, however long its path) or a top-level pair is level 1, the pairs
  of a table level 2 and inline tables one level more; a dotted key (`a.b.c = 1`) is one
  level. Deeper keys are mostly data (lockfile and schema internals) rather than settings.
  At most `MAX_KEYS` keys per file are kept, shallow before deep, so huge generated files
  stay bounded; the rest of such a file is chunked as plain lines.
- Arrays are values, not mappings: keys inside array elements (a YAML list of mappings such
  as `jobs.build.steps`, a JSON array of objects) are not symbols; the key holding the array
  is. A TOML array-of-tables element (`[[tool.mypy.overrides]]`) is a symbol per element under
  the header's path (the same qualified name repeated), its pairs are not.
- Names are used as written (quotes stripped, no escapes decoded), so a key containing a dot
  (`"app.kubernetes.io/name"`) reads as several path segments. YAML merge keys (`<<`) and
  non-scalar keys are skipped. The documents of a multi-document YAML stream share one
  namespace: a key repeated in several documents is several symbols of one qualified name.
- Chunks: `layout.plan_spans` over the kept keys as "section" outlines named by their key
  path, each starting at the comment lines right above it: top-level keys (TOML tables) are
  the sections, a section longer than `layout.MAX_DEFINITION_LINES` is split at its own keys,
  tiny neighbours merge; lines outside any key (`{`, `---`, comments) are "section" chunks
  with no symbol.
- No references.

When the file is empty, larger than `treesitter.MAX_PARSE_BYTES`, has no key at the top (a
top-level list or scalar), more than `treesitter.MAX_ERROR_SHARE` of its bytes fit no
construct, or the parse fails, the result is line windows with no symbols.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache

import tree_sitter_json
import tree_sitter_toml
import tree_sitter_yaml
from tree_sitter import Language, Node, Parser, Query, QueryCursor

from chalicelib.domain.models import Chunk, Reference, Symbol
from chalicelib.parsers.layout import Outline, build_chunks, plan_spans, window_chunks
from chalicelib.parsers.text import split_lines
from chalicelib.parsers.treesitter import MAX_ERROR_SHARE, MAX_PARSE_BYTES

log = logging.getLogger(__name__)

Parsed = tuple[tuple[Chunk, ...], tuple[Symbol, ...], tuple[Reference, ...]]

MAX_DEPTH = 4
MAX_KEYS = 2_000
SYMBOL_KIND = "key"
CHUNK_KIND = "section"

_GRAMMARS: dict[str, Callable[[], object]] = {
    "json": tree_sitter_json.language,
    "yaml": tree_sitter_yaml.language,
    "toml": tree_sitter_toml.language,
}
LANGUAGES: tuple[str, ...] = tuple(_GRAMMARS)

# A key found by the walk: `node` spans the key and its value (a pair, a TOML table),
# `inner` is the mapping under it that the walk descends into (None for other values).
_Entry = tuple[Node, tuple[str, ...], Node | None]


@dataclass(eq=False, slots=True)
class _Key:
    node: Node
    parts: tuple[str, ...]
    parent: _Key | None
    start: int  # 1-based line of the key
    end: int  # 1-based last line of its value, trailing blank and comment lines left out
    children: list[_Key] = field(default_factory=list)


@cache
def _language(language: str) -> Language:
    return Language(_GRAMMARS[language]())


@cache
def _query(language: str) -> Query:
    return Query(_language(language), "(ERROR) @error (comment) @comment")


_THREAD = threading.local()  # a Parser is stateful: one per thread


def _parser(language: str) -> Parser:
    parsers: dict[str, Parser] = _THREAD.__dict__.setdefault("parsers", {})
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = Parser(_language(language))
    return parser


def parse_config(language: str, text: str) -> Parsed:
    """Chunks and key symbols of a JSON, YAML or TOML `text` (see the module docstring)."""
    lines = split_lines(text)
    data = text.encode("utf-8")
    if data.strip() and len(data) <= MAX_PARSE_BYTES:
        try:
            parsed = _analyze(language, data, lines)
            if parsed is not None:
                return parsed
        except Exception:  # a parser bug must not fail the blob: fall back to windows
            log.warning(
                "%s extraction failed; falling back to line windows", language, exc_info=True
            )
    return window_chunks(lines), (), ()


def parse_json(text: str) -> Parsed:
    return parse_config("json", text)


def parse_yaml(text: str) -> Parsed:
    return parse_config("yaml", text)


def parse_toml(text: str) -> Parsed:
    return parse_config("toml", text)


def _analyze(language: str, data: bytes, lines: list[str]) -> Parsed | None:
    root = _parser(language).parse(data).root_node
    captures = QueryCursor(_query(language)).captures(root)
    if _error_bytes(captures.get("error", ())) > MAX_ERROR_SHARE * len(data):
        return None
    comments = _comment_lines(captures.get("comment", ()), data)
    roots = _walk(language, root, lines, comments)
    if not roots:  # no mapping at the top (a list, a scalar, unreadable): plain windows
        return None
    keys = sorted(_flatten(roots), key=lambda k: (k.node.start_byte, len(k.parts)))
    symbols = tuple(
        Symbol(
            k.parts[-1],
            ".".join(k.parts),
            SYMBOL_KIND,
            k.start,
            k.end,
            ".".join(k.parts[:-1]) or None,
        )
        for k in keys
    )
    outline = _outline(roots, 1, lines, comments)
    return build_chunks(lines, plan_spans(lines, outline, owner_kind=CHUNK_KIND)), symbols, ()


def _walk(language: str, root: Node, lines: list[str], comments: frozenset[int]) -> list[_Key]:
    """The top-level keys, their kept descendants under them: breadth first, so that the
    `MAX_KEYS` cap drops the deepest keys (then the last ones of the deepest level kept)."""
    entries = _ENTRIES[language]
    roots: list[_Key] = []
    frontier: list[tuple[_Key | None, Node]] = [(None, c) for c in _TOPS[language](root)]
    count = 0
    for _ in range(MAX_DEPTH):
        deeper: list[tuple[_Key | None, Node]] = []
        for parent, container in frontier:
            for node, parts, inner in entries(container):
                if count >= MAX_KEYS:
                    return roots
                count += 1
                start = node.start_point.row + 1
                prefix = parent.parts if parent is not None else ()
                end = _content_end(start, _end_line(node), lines, comments)
                key = _Key(node, prefix + parts, parent, start, end)
                (parent.children if parent is not None else roots).append(key)
                if inner is not None:
                    deeper.append((key, inner))
        frontier = deeper
    return roots


def _flatten(keys: Iterable[_Key]) -> Iterator[_Key]:
    for k in keys:
        yield k
        yield from _flatten(k.children)


def _outline(
    keys: list[_Key], floor: int, lines: list[str], comments: frozenset[int]
) -> list[Outline]:
    """Section outlines of sibling keys: each starts at the comment lines right above its key
    (never above `floor`, the line after the previous sibling or its parent's key line)."""
    outline: list[Outline] = []
    for k in keys:
        start = min(k.start, len(lines))
        while start - 1 >= floor and start - 1 in comments:
            start -= 1
        end = min(max(k.end, start), len(lines))
        children = _outline(k.children, k.start + 1, lines, comments)
        outline.append(Outline(start, end, CHUNK_KIND, ".".join(k.parts), tuple(children)))
        floor = max(floor, end + 1)
    return outline


def _end_line(node: Node) -> int:
    """1-based last line of a node (a node ending in a newline ends on the line before)."""
    row, column = node.end_point
    return row + 1 if column > 0 or row == node.start_point.row else row


def _content_end(start: int, end: int, lines: list[str], comments: frozenset[int]) -> int:
    """`end` moved up past blank and comment-only lines, not above `start`."""
    end = min(end, len(lines))
    while end > start and (not lines[end - 1].strip() or end in comments):
        end -= 1
    return max(end, start)


def _error_bytes(errors: Iterable[Node]) -> int:
    """Bytes of the tokens that fit no construct: the childless children of error nodes."""
    return sum(
        child.end_byte - child.start_byte
        for node in errors
        for child in node.children
        if child.child_count == 0
    )


def _comment_lines(comments: Iterable[Node], data: bytes) -> frozenset[int]:
    """1-based lines holding nothing but (part of) a comment."""
    found: set[int] = set()
    for node in comments:
        line_start = node.start_byte - node.start_point.column
        newline = data.find(b"\n", node.end_byte)
        after = data[node.end_byte : newline if newline >= 0 else len(data)]
        if not data[line_start : node.start_byte].strip() and not after.strip():
            found.update(range(node.start_point.row + 1, node.end_point.row + 2))
    return frozenset(found)


def _children(node: Node) -> Iterator[Node]:
    """The named children of `node`, through a cursor (sibling links cost a scan each)."""
    cursor = node.walk()
    if not cursor.goto_first_child():
        return
    while True:
        child = cursor.node
        if child is not None and child.is_named:
            yield child
        if not cursor.goto_next_sibling():
            return


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _unquoted(node: Node) -> str:
    text = _text(node)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" else text


def _name(text: str) -> tuple[str, ...]:
    """A single-segment key, or nothing when it cannot name a symbol."""
    text = text.strip()
    return (text,) if text and "\n" not in text else ()


# JSON: a document of values; objects hold pairs of a string key and a value.


def _json_tops(root: Node) -> Iterator[Node]:
    return (c for c in _children(root) if c.type == "object")


def _json_entries(node: Node) -> Iterator[_Entry]:
    for pair in _children(node):
        key = pair.child_by_field_name("key") if pair.type == "pair" else None
        parts = _name(_unquoted(key)) if key is not None and key.type == "string" else ()
        if parts:
            value = pair.child_by_field_name("value")
            yield pair, parts, value if value is not None and value.type == "object" else None


# YAML: a stream of documents; a value is a block or flow node around a mapping, a sequence
# or a scalar (after an optional anchor and tag).

_YAML_MAPPINGS = frozenset({"block_mapping", "flow_mapping"})
_YAML_PAIRS = frozenset({"block_mapping_pair", "flow_pair"})
_YAML_SCALARS = frozenset({"plain_scalar", "double_quote_scalar", "single_quote_scalar"})


def _yaml_mapping(node: Node | None) -> Node | None:
    if node is None or node.type not in ("block_node", "flow_node"):
        return None
    return next((c for c in _children(node) if c.type in _YAML_MAPPINGS), None)


def _yaml_tops(root: Node) -> Iterator[Node]:
    for document in _children(root):
        if document.type == "document":
            for node in _children(document):
                mapping = _yaml_mapping(node)
                if mapping is not None:
                    yield mapping


def _yaml_key(key: Node | None) -> tuple[str, ...]:
    if key is None or key.type != "flow_node":
        return ()
    scalar = next((c for c in _children(key) if c.type not in ("anchor", "tag")), None)
    if scalar is None or scalar.type not in _YAML_SCALARS:
        return ()
    parts = _name(_unquoted(scalar) if scalar.type != "plain_scalar" else _text(scalar))
    return parts if parts != ("<<",) else ()


def _yaml_entries(node: Node) -> Iterator[_Entry]:
    for pair in _children(node):
        if pair.type in _YAML_PAIRS:
            parts = _yaml_key(pair.child_by_field_name("key"))
            if parts:
                yield pair, parts, _yaml_mapping(pair.child_by_field_name("value"))


# TOML: a document of top-level pairs, then tables and array-of-tables elements, each a
# header key and its pairs; a pair's key may be dotted and its value an inline table.

_TOML_KEYS = frozenset({"bare_key", "quoted_key", "dotted_key"})


def _toml_tops(root: Node) -> Iterator[Node]:
    yield root


def _toml_key(node: Node) -> tuple[str, ...]:
    if node.type == "dotted_key":
        segments = [_toml_key(c) for c in _children(node)]
        return () if not segments or not all(segments) else tuple(p for s in segments for p in s)
    if node.type == "bare_key":
        return _name(_text(node))
    if node.type == "quoted_key":
        return _name(_unquoted(node))
    return ()


def _toml_entries(node: Node) -> Iterator[_Entry]:
    for child in _children(node):
        if child.type not in ("pair", "table", "table_array_element"):
            continue
        key = next((c for c in _children(child) if c.type in _TOML_KEYS), None)
        parts = _toml_key(key) if key is not None else ()
        if not parts:
            continue
        if child.type == "pair":
            value = child.named_child(child.named_child_count - 1)
            yield child, parts, value if value.type == "inline_table" else None
        else:
            yield child, parts, child if child.type == "table" else None


_TOPS: dict[str, Callable[[Node], Iterable[Node]]] = {
    "json": _json_tops,
    "yaml": _yaml_tops,
    "toml": _toml_tops,
}
_ENTRIES: dict[str, Callable[[Node], Iterator[_Entry]]] = {
    "json": _json_entries,
    "yaml": _yaml_entries,
    "toml": _toml_entries,
}
