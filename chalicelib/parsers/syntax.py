"""The `syntax` check level: in-process, per file, pure. `syntax_diagnostics(path, data)`.

Which check runs is decided by the language Strata detects for the path:

- every tree-sitter language in `ts_languages.SPECS`: the outermost `ERROR` nodes
  ("syntax error: unexpected `…`") and every `MISSING` node ("missing `;`"), tool
  "tree-sitter". A C header holding C++ is parsed as C++, as the indexer does.
- Python also through `compile()` (tool "python"). compile stops at its first error, which
  is the better-worded one, so tree-sitter errors on the lines that error spans are dropped;
  tree-sitter's errors elsewhere in the file are kept.
- Lean: structural checks from `lean_structure` (tool "lean-structure").
- anything else (text, Markdown, JSON, ...) is not checked: `syntax_checkable` is False and
  the result is empty, so a caller counts it as "unchecked" rather than "passed".

Never raises on any input: text is decoded with replacement, a file over `MAX_CHECK_BYTES`
gets one warning instead of a check, and at most `MAX_DIAGNOSTICS_PER_FILE` diagnostics are
returned, the rest summed up in a final one. Positions: see `chalicelib.domain.diagnostics`.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from functools import cache

from tree_sitter import Language, Node, Parser, Tree

from chalicelib.domain.diagnostics import (
    Diagnostic,
    TextPositions,
    excerpt,
    sorted_and_capped,
)
from chalicelib.domain.languages import language_for
from chalicelib.parsers.lean_structure import lean_diagnostics
from chalicelib.parsers.ts_languages import SPECS, source_for

# Larger files are not parsed (as for indexing): one warning says so.
MAX_CHECK_BYTES = 4_000_000
# tree-sitter's error recovery is superlinear on some garbage (`/-/-/-...` as Python takes
# seconds for 10 kB): a parse gets this budget, plus a share per MB, then gives up with a
# warning. Clean code parses at several MB/s, far inside it.
PARSE_BUDGET_SECONDS = 1.0
PARSE_BUDGET_SECONDS_PER_MB = 4.0
_READ_CHUNK = 1 << 16

TREE_SITTER_TOOL = "tree-sitter"
PYTHON_TOOL = "python"


def syntax_checkable(path: str) -> bool:
    """Whether the `syntax` level has a check for this path's language."""
    language = language_for(path)
    return language in SPECS or language == "lean"


def syntax_diagnostics(
    path: str, data: bytes, *, parse_budget_seconds: float | None = None
) -> list[Diagnostic]:
    """Syntax diagnostics of one file, sorted by position; [] when clean or not checkable.
    `parse_budget_seconds` overrides the tree-sitter time budget (default: by size)."""
    language = language_for(path)
    if not syntax_checkable(path):
        return []
    if len(data) > MAX_CHECK_BYTES:
        return [_too_large(path, len(data))]
    if language == "lean":
        found = lean_diagnostics(path, data.decode("utf-8", "replace"))
    else:
        budget = parse_budget_seconds
        if budget is None:
            budget = PARSE_BUDGET_SECONDS + PARSE_BUDGET_SECONDS_PER_MB * len(data) / 1e6
        found = tree_sitter_diagnostics(path, language, data, budget)
        if language == "python":
            found = _merge_python(path, data, found)
    return sorted_and_capped(found)


def _too_large(path: str, size: int) -> Diagnostic:
    message = f"not checked: file too large ({size} bytes > {MAX_CHECK_BYTES})"
    return Diagnostic(path, 1, 1, 1, 1, "warning", message, "strata")


# --- tree-sitter ---------------------------------------------------------------------------

_THREAD = threading.local()  # a Parser is stateful: one per language and thread


@cache
def _language(language: str) -> Language:
    return Language(SPECS[language].grammar())


def _parser(language: str) -> Parser:
    parsers: dict[str, Parser] = _THREAD.__dict__.setdefault("parsers", {})
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = Parser(_language(language))
    return parser


def parse_tree(language: str, data: bytes, budget_seconds: float | None = None) -> Tree | None:
    """The tree of `data`, switching to the language's dialect and blanking concealed parts
    as the indexer does (`ts_languages.LanguageSpec`); None if the parse outran
    `budget_seconds` (no budget: a plain parse)."""
    language, data = source_for(language, data)
    parser = _parser(language)
    if budget_seconds is None:
        return parser.parse(data)
    deadline = time.monotonic() + budget_seconds

    def read(offset: int, _point: tuple[int, int]) -> bytes:
        return data[offset : offset + _READ_CHUNK]

    def cancel(_offset: int, _has_error: bool) -> bool:
        return time.monotonic() > deadline

    try:  # the progress callback is only honoured when the source is read by a callback
        return parser.parse(read, progress_callback=cancel)
    except ValueError:  # "Parsing failed": cancelled
        parser.reset()
        return None


def _problem_nodes(root: Node) -> Iterator[Node]:
    """Outermost ERROR nodes and all MISSING nodes, walking only subtrees that hold one."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            yield node
            if node.is_error:
                continue
        stack.extend(reversed([c for c in node.children if c.has_error or c.is_missing]))


def tree_sitter_diagnostics(
    path: str, language: str, data: bytes, budget_seconds: float | None = None
) -> list[Diagnostic]:
    """ERROR and MISSING nodes of the tree-sitter parse of `data`, unsorted and uncapped; one
    warning instead if the parse outran its budget."""
    tree = parse_tree(language, data, budget_seconds)
    if tree is None:
        message = f"not checked: the parser gave up after {budget_seconds:.1f} s"
        return [Diagnostic(path, 1, 1, 1, 1, "warning", message, TREE_SITTER_TOOL)]
    root = tree.root_node
    if not root.has_error:
        return []
    positions = TextPositions(data)
    found: list[Diagnostic] = []
    for node in _problem_nodes(root):
        line, column = positions.row_position(*node.start_point)
        end_line, end_column = positions.row_position(*node.end_point)
        found.append(
            Diagnostic(
                path, line, column, end_line, end_column, "error", _message(node), TREE_SITTER_TOOL
            )
        )
    return found


def _message(node: Node) -> str:
    if node.is_missing:
        return f"missing `{node.type}`" if not node.is_named else f"missing {node.type}"
    text = excerpt((node.text or b"").decode("utf-8", "replace"))
    return f"syntax error: unexpected `{text}`" if text else "syntax error"


# --- Python compile() ----------------------------------------------------------------------


def python_compile_diagnostic(path: str, source: str) -> Diagnostic | None:
    """compile()'s first syntax error in `source`, or None. Warnings (invalid escapes, ...)
    are not errors at this level and are silenced so no warnings filter turns them into one."""
    nul = source.find("\0")
    if nul >= 0:  # compile refuses the whole text; say where the NUL is
        line = source.count("\n", 0, nul) + 1
        column = nul - (source.rfind("\n", 0, nul) + 1) + 1
        message = "source code cannot contain null bytes"
        return Diagnostic(path, line, column, line, column + 1, "error", message, PYTHON_TOOL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        return _from_syntax_error(path, source, error)
    except (ValueError, RecursionError, MemoryError, OverflowError):
        return None  # compile gave up on the input; tree-sitter still reports what it sees
    return None


def _from_syntax_error(path: str, source: str, error: SyntaxError) -> Diagnostic:
    line = error.lineno or 1
    column = error.offset if error.offset and error.offset > 0 else 1
    end_line = error.end_lineno if error.end_lineno and error.end_lineno >= line else line
    end_column = error.end_offset if error.end_offset and error.end_offset > 0 else column
    if (end_line, end_column) <= (line, column):  # no end given: one character, within the line
        end_line, end_column = line, column + (column <= _line_length(source, line))
    message = error.msg or "invalid syntax"
    return Diagnostic(path, line, column, end_line, end_column, "error", message, PYTHON_TOOL)


def _line_length(source: str, line: int) -> int:
    """Characters on 1-based `line` of `source` (0 past the end)."""
    start = 0
    for _ in range(line - 1):
        start = source.find("\n", start) + 1
        if start == 0:
            return 0
    end = source.find("\n", start)
    return (len(source) if end < 0 else end) - start


def _merge_python(path: str, data: bytes, found: list[Diagnostic]) -> list[Diagnostic]:
    compiled = python_compile_diagnostic(path, data.decode("utf-8", "replace"))
    if compiled is None:
        return found
    kept = [
        d
        for d in found
        if d.severity == "warning" or d.end_line < compiled.line or d.line > compiled.end_line
    ]
    return [compiled, *kept]
