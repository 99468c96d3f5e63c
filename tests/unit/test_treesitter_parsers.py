"""Tree-sitter and Markdown parsers: exact chunks, symbols and references of one fixture per
language (tests/fixtures/parsers/), the chunk coverage invariant on edited fixtures and on real
source files, and the fallbacks to line windows."""

from __future__ import annotations

import sysconfig
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.languages import language_for
from chalicelib.domain.models import BlobArtifact, Chunk
from chalicelib.domain.tokens import term_counts
from chalicelib.parsers import PARSER_VERSION, parse_blob
from chalicelib.parsers.layout import Outline, Span, plan_spans
from chalicelib.parsers.text import split_lines, window_spans
from chalicelib.parsers.treesitter import prepare
from chalicelib.parsers.ts_languages import SPECS
from chalicelib.parsers.ts_references import callee

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parsers"

CHUNK_KINDS = {
    "function", "method", "class", "struct", "interface", "enum", "trait", "impl", "type",
    "module", "section", "window",
}  # fmt: skip


@dataclass(frozen=True)
class Expected:
    language: str
    chunks: list[tuple[int, int, str, str | None]]  # start, end, kind, symbol
    symbols: list[tuple[str, str, int, int, str | None]]  # kind, qualified name, span, container
    references: list[tuple[str, str, int, str | None]]  # kind, name, line, source


EXPECTED: dict[str, Expected] = {
    "inventory.py": Expected(
        language="python",
        chunks=[
            (1, 13, "module", None),
            (16, 28, "class", "Item"),
            (31, 42, "class", "Inventory"),
            (44, 51, "method", "Inventory.add_stock"),
            (53, 55, "method", "Inventory.available"),
            (57, 64, "method", "Inventory.reserve"),
            (66, 77, "method", "Inventory.reserved"),
            (79, 86, "method", "Inventory.ship"),
            (88, 94, "method", "Inventory.transfer"),
            (96, 103, "method", "Inventory.value_cents"),
            (105, 112, "method", "Inventory.low_stock"),
            (114, 122, "method", "Inventory.movements"),
            (124, 132, "method", "Inventory.restore"),
            (134, 142, "method", "Inventory.audit"),
            (144, 154, "class", "Inventory"),
            (157, 167, "function", "restock_all"),
            (170, 182, "module", None),
        ],
        symbols=[
            ("constant", "LOG", 11, 11, None),
            ("constant", "DEFAULT_WAREHOUSE", 12, 12, None),
            ("variable", "retry_budget", 13, 13, None),
            ("class", "Item", 17, 20, None),
            ("class", "Reservation", 24, 28, None),
            ("class", "Inventory", 31, 154, None),
            ("method", "Inventory.__init__", 38, 42, "Inventory"),
            ("method", "Inventory.add_stock", 44, 51, "Inventory"),
            ("method", "Inventory.available", 53, 55, "Inventory"),
            ("method", "Inventory.reserve", 57, 64, "Inventory"),
            ("method", "Inventory.reserved", 66, 72, "Inventory"),
            ("method", "Inventory.release", 74, 77, "Inventory"),
            ("method", "Inventory.ship", 79, 86, "Inventory"),
            ("method", "Inventory.transfer", 88, 94, "Inventory"),
            ("method", "Inventory.value_cents", 96, 103, "Inventory"),
            ("method", "Inventory.low_stock", 105, 112, "Inventory"),
            ("method", "Inventory.movements", 114, 115, "Inventory"),
            ("method", "Inventory.snapshot", 117, 122, "Inventory"),
            ("method", "Inventory.restore", 124, 132, "Inventory"),
            ("method", "Inventory.audit", 134, 142, "Inventory"),
            ("method", "Inventory._require_item", 146, 148, "Inventory"),
            ("method", "Inventory.__len__", 150, 151, "Inventory"),
            ("method", "Inventory.__contains__", 153, 154, "Inventory"),
            ("function", "restock_all", 157, 167, None),
            ("function", "_format_line", 170, 171, None),
            ("function", "report", 174, 176, None),
        ],
        references=[
            ("import", "logging", 5, None),
            ("import", "collections.defaultdict", 6, None),
            ("import", "dataclasses.dataclass", 7, None),
            ("import", "dataclasses.field", 7, None),
            ("import", ".errors.OutOfStock", 9, None),
            ("call", "logging.getLogger", 11, "LOG"),
            ("call", "dataclass", 16, None),
            ("call", "field", 28, "Reservation"),
            ("call", "defaultdict", 40, "Inventory.__init__"),
            ("call", "defaultdict", 41, "Inventory.__init__"),
            ("call", "self._require_item", 46, "Inventory.add_stock"),
            ("call", "ValueError", 48, "Inventory.add_stock"),
            ("call", "self._history.append", 50, "Inventory.add_stock"),
            ("call", "LOG.info", 51, "Inventory.add_stock"),
            ("call", "self._require_item", 59, "Inventory.reserve"),
            ("call", "self.available", 61, "Inventory.reserve"),
            ("call", "Missing", 62, "Inventory.reserve"),
            ("call", "self._history.append", 64, "Inventory.reserve"),
            ("call", "sum", 68, "Inventory.reserved"),
            ("call", "self._reserved.items", 70, "Inventory.reserved"),
            ("call", "max", 76, "Inventory.release"),
            ("call", "self._history.append", 77, "Inventory.release"),
            ("call", "ValueError", 83, "Inventory.ship"),
            ("call", "self._history.append", 86, "Inventory.ship"),
            ("call", "self.available", 90, "Inventory.transfer"),
            ("call", "Missing", 91, "Inventory.transfer"),
            ("call", "self._history.append", 94, "Inventory.transfer"),
            ("call", "self._stock.items", 99, "Inventory.value_cents"),
            ("call", "sorted", 108, "Inventory.low_stock"),
            ("call", "self.available", 109, "Inventory.low_stock"),
            ("call", "low.append", 111, "Inventory.low_stock"),
            ("call", "self._stock.items", 120, "Inventory.snapshot"),
            ("call", "result.setdefault", 121, "Inventory.snapshot"),
            ("call", "self._stock.clear", 126, "Inventory.restore"),
            ("call", "self._reserved.clear", 127, "Inventory.restore"),
            ("call", "snapshot.items", 128, "Inventory.restore"),
            ("call", "levels.items", 129, "Inventory.restore"),
            ("call", "self._require_item", 130, "Inventory.restore"),
            ("call", "self._history.append", 132, "Inventory.restore"),
            ("call", "len", 132, "Inventory.restore"),
            ("call", "self._stock.items", 137, "Inventory.audit"),
            ("call", "problems.append", 139, "Inventory.audit"),
            ("call", "problems.append", 141, "Inventory.audit"),
            ("call", "KeyError", 148, "Inventory._require_item"),
            ("call", "len", 151, "Inventory.__len__"),
            ("call", "inventory.add_stock", 162, "restock_all"),
            ("call", "LOG.warning", 164, "restock_all"),
            ("call", "_format_line", 175, "report"),
            ("call", "inventory.low_stock", 175, "report"),
            ("call", "join", 176, "report"),
            ("import", "sys", 180, None),
            ("call", "print", 182, None),
            ("call", "report", 182, None),
            ("call", "Inventory", 182, None),
        ],
    ),
    "router.js": Expected(
        language="javascript",
        chunks=[
            (1, 6, "module", None),
            (8, 41, "class", "Router"),
            (43, 53, "function", "notFound"),
        ],
        symbols=[
            ("constant", "http", 4, 4, None),
            ("variable", "requestCount", 6, 6, None),
            ("class", "Router", 11, 41, None),
            ("method", "Router.constructor", 12, 16, "Router"),
            ("method", "Router.use", 18, 21, "Router"),
            ("method", "Router.add", 23, 27, "Router"),
            ("method", "Router.handle", 29, 40, "Router"),
            ("function", "notFound", 43, 46, None),
            ("function", "listen", 48, 53, None),
        ],
        references=[
            ("call", "require", 4, "http"),
            ("import", "http", 4, "http"),
            ("import", "./url-utils.js", 5, None),
            ("call", "Map", 14, "Router.constructor"),
            ("call", "this.middleware.push", 19, "Router.use"),
            ("call", "this.routes.set", 25, "Router.add"),
            ("call", "fn", 32, "Router.handle"),
            ("call", "parse", 34, "Router.handle"),
            ("call", "this.routes.get", 35, "Router.handle"),
            ("call", "notFound", 37, "Router.handle"),
            ("call", "handler", 39, "Router.handle"),
            ("call", "res.end", 45, "notFound"),
            ("call", "http.createServer", 49, "listen"),
            ("call", "server.listen", 50, "listen"),
            ("call", "console.log", 51, "listen"),
        ],
    ),
    "cache.ts": Expected(
        language="typescript",
        chunks=[
            (1, 17, "module", None),
            (19, 54, "class", "TtlCache"),
            (56, 60, "module", "Caches"),
        ],
        symbols=[
            ("constant", "DEFAULT_TTL_MS", 4, 4, None),
            ("interface", "CacheOptions", 6, 10, None),
            ("method", "CacheOptions.onEvict", 9, 9, "CacheOptions"),
            ("type", "Entry", 12, 12, None),
            ("enum", "EvictionReason", 14, 17, None),
            ("class", "TtlCache", 20, 54, None),
            ("method", "TtlCache.constructor", 23, 25, "TtlCache"),
            ("method", "TtlCache.get", 27, 37, "TtlCache"),
            ("method", "TtlCache.set", 39, 47, "TtlCache"),
            ("method", "TtlCache.evict", 49, 53, "TtlCache"),
            ("module", "Caches", 56, 60, None),
            ("function", "Caches.create", 57, 59, "Caches"),
        ],
        references=[
            ("import", "events", 1, None),
            ("import", "./clock", 2, None),
            ("call", "Map", 21, "TtlCache"),
            ("call", "super", 24, "TtlCache.constructor"),
            ("call", "this.entries.get", 28, "TtlCache.get"),
            ("call", "this.clock.now", 30, "TtlCache.get"),
            ("call", "this.evict", 31, "TtlCache.get"),
            ("call", "this.entries.delete", 34, "TtlCache.get"),
            ("call", "this.entries.set", 35, "TtlCache.get"),
            ("call", "this.entries.set", 41, "TtlCache.set"),
            ("call", "this.clock.now", 41, "TtlCache.set"),
            ("call", "next", 44, "TtlCache.set"),
            ("call", "this.entries.keys", 44, "TtlCache.set"),
            ("call", "this.evict", 45, "TtlCache.set"),
            ("call", "this.entries.delete", 50, "TtlCache.evict"),
            ("call", "this.options.onEvict", 51, "TtlCache.evict"),
            ("call", "this.emit", 52, "TtlCache.evict"),
            ("call", "TtlCache", 58, "Caches.create"),
        ],
    ),
    "Counter.tsx": Expected(
        language="tsx",
        chunks=[
            (1, 7, "module", None),
            (9, 17, "function", "Counter"),
            (19, 25, "function", "App"),
        ],
        symbols=[
            ("type", "CounterProps", 4, 7, None),
            ("function", "Counter", 9, 17, None),
            ("function", "Counter.increment", 11, 11, "Counter"),
            ("function", "App", 19, 25, None),
        ],
        references=[
            ("import", "react", 1, None),
            ("import", "./Counter.module.css", 2, None),
            ("call", "useState", 10, "Counter"),
            ("call", "setCount", 11, "Counter.increment"),
        ],
    ),
    "queue.go": Expected(
        language="go",
        chunks=[
            (1, 14, "module", None),
            (16, 39, "struct", "Job"),
            (41, 50, "method", "Queue.Submit"),
            (52, 57, "method", "Queue.Close"),
            (59, 72, "method", "Queue.Work"),
        ],
        symbols=[
            ("module", "queue", 2, 2, None),
            ("constant", "MaxAttempts", 12, 12, None),
            ("variable", "ErrClosed", 14, 14, None),
            ("struct", "Job", 17, 21, None),
            ("interface", "Runner", 24, 27, None),
            ("method", "Runner.Submit", 25, 25, "Runner"),
            ("method", "Runner.Close", 26, 26, "Runner"),
            ("struct", "Queue", 30, 34, None),
            ("function", "New", 37, 39, None),
            ("method", "Queue.Submit", 42, 50, "Queue"),
            ("method", "Queue.Close", 52, 57, "Queue"),
            ("method", "Queue.Work", 60, 72, "Queue"),
        ],
        references=[
            ("import", "errors", 5, None),
            ("import", "fmt", 6, None),
            ("import", "sync", 7, None),
            ("import", "github.com/sirupsen/logrus", 9, None),
            ("call", "errors.New", 14, "ErrClosed"),
            ("call", "make", 38, "New"),
            ("call", "q.mu.Lock", 43, "Queue.Submit"),
            ("call", "q.mu.Unlock", 44, "Queue.Submit"),
            ("call", "q.mu.Lock", 53, "Queue.Close"),
            ("call", "close", 55, "Queue.Close"),
            ("call", "q.mu.Unlock", 56, "Queue.Close"),
            ("call", "job.Run", 62, "Queue.Work"),
            ("call", "log.Errorf", 65, "Queue.Work"),
            ("call", "fmt.Printf", 68, "Queue.Work"),
            ("call", "q.Submit", 69, "Queue.Work"),
        ],
    ),
    "shapes.rs": Expected(
        language="rust",
        chunks=[
            (1, 37, "module", None),
            (39, 51, "impl", "Rect"),
            (53, 67, "module", "stats"),
        ],
        symbols=[
            ("constant", "UNIT", 6, 6, None),
            ("trait", "Shape", 9, 14, None),
            ("method", "Shape.area", 10, 10, "Shape"),
            ("method", "Shape.name", 11, 13, "Shape"),
            ("struct", "Circle", 17, 19, None),
            ("struct", "Rect", 22, 25, None),
            ("method", "Circle.area", 28, 30, "Circle"),
            ("method", "Rect.fmt", 34, 36, "Rect"),
            ("method", "Rect.square", 40, 42, "Rect"),
            ("method", "Rect.scaled", 44, 46, "Rect"),
            ("method", "Rect.new", 48, 50, "Rect"),
            ("module", "stats", 53, 59, None),
            ("function", "stats.total_area", 56, 58, "stats"),
            ("function", "count_by_name", 61, 67, None),
        ],
        references=[
            ("import", "std::collections::HashMap", 3, None),
            ("import", "std::fmt", 4, None),
            ("import", "std::fmt::Display", 4, None),
            ("call", "String::from", 12, "Shape.name"),
            ("call", "self.radius.powi", 29, "Circle.area"),
            ("call", "write", 35, "Rect.fmt"),
            ("call", "Rect::new", 45, "Rect.scaled"),
            ("import", "super::Shape", 54, "stats"),
            ("call", "map", 57, "stats.total_area"),
            ("call", "shapes.iter", 57, "stats.total_area"),
            ("call", "sum", 57, "stats.total_area"),
            ("call", "s.area", 57, "stats.total_area"),
            ("call", "HashMap::new", 62, "count_by_name"),
            ("call", "counts.entry", 64, "count_by_name"),
            ("call", "or_insert", 64, "count_by_name"),
            ("call", "shape.name", 64, "count_by_name"),
        ],
    ),
    "OrderService.java": Expected(
        language="java",
        chunks=[
            (1, 6, "module", None),
            (8, 59, "class", "OrderService"),
        ],
        symbols=[
            ("module", "com.example.orders", 1, 1, None),
            ("class", "OrderService", 11, 59, None),
            ("method", "OrderService.OrderService", 17, 19, "OrderService"),
            ("method", "OrderService.addListener", 21, 23, "OrderService"),
            ("method", "OrderService.place", 26, 36, "OrderService"),
            ("method", "OrderService.cancel", 38, 45, "OrderService"),
            ("interface", "OrderService.OrderListener", 47, 49, "OrderService"),
            ("method", "OrderService.OrderListener.placed", 48, 48, "OrderService.OrderListener"),
            ("enum", "OrderService.Status", 51, 58, "OrderService"),
            ("method", "OrderService.Status.isFinal", 55, 57, "OrderService.Status"),
        ],
        references=[
            ("import", "java.util.ArrayList", 3, None),
            ("import", "java.util.List", 4, None),
            ("import", "java.util.Optional", 5, None),
            ("import", "java.util.Objects.requireNonNull", 6, None),
            ("call", "ArrayList", 15, "OrderService"),
            ("call", "requireNonNull", 18, "OrderService.OrderService"),
            ("call", "listeners.add", 22, "OrderService.addListener"),
            ("call", "lines.size", 27, "OrderService.place"),
            ("call", "IllegalArgumentException", 28, "OrderService.place"),
            ("call", "Order", 30, "OrderService.place"),
            ("call", "repository.save", 31, "OrderService.place"),
            ("call", "listener.placed", 33, "OrderService.place"),
            ("call", "repository.find", 39, "OrderService.cancel"),
            ("call", "order.ifPresent", 40, "OrderService.cancel"),
            ("call", "o.setStatus", 41, "OrderService.cancel"),
            ("call", "repository.save", 42, "OrderService.cancel"),
        ],
    ),
    "ringbuf.c": Expected(
        language="c",
        chunks=[
            (1, 18, "module", None),
            (20, 33, "function", "rb_new"),
            (35, 45, "function", "rb_free"),
            (47, 55, "function", "rb_push"),
            (57, 66, "function", "rb_pop"),
        ],
        symbols=[
            ("constant", "RB_MIN_CAPACITY", 6, 6, None),
            ("function", "RB_WRAP", 7, 7, None),
            ("type", "ringbuf_t", 9, 14, None),
            ("struct", "ringbuf", 9, 14, None),
            ("enum", "rb_status", 16, 16, None),
            ("variable", "rb_instances", 18, 18, None),
            ("function", "rb_new", 21, 33, None),
            ("function", "rb_free", 35, 40, None),
            ("function", "rb_used", 42, 45, None),
            ("function", "rb_push", 47, 55, None),
            ("function", "rb_pop", 57, 66, None),
        ],
        references=[
            ("import", "stdlib.h", 2, None),
            ("import", "string.h", 3, None),
            ("import", "ringbuf.h", 4, None),
            ("call", "malloc", 23, "rb_new"),
            ("call", "calloc", 28, "rb_new"),
            ("call", "free", 37, "rb_free"),
            ("call", "free", 38, "rb_free"),
            ("call", "rb_used", 49, "rb_push"),
            ("call", "RB_WRAP", 52, "rb_push"),
            ("call", "rb_used", 59, "rb_pop"),
            ("call", "RB_WRAP", 62, "rb_pop"),
            ("call", "memset", 64, "rb_pop"),
        ],
    ),
    "matrix.cpp": Expected(
        language="cpp",
        chunks=[
            (1, 6, "module", None),
            (8, 47, "module", "linalg"),
            (49, 57, "type", "Dim"),
        ],
        symbols=[
            ("module", "linalg", 8, 47, None),
            ("class", "linalg.Matrix", 13, 29, "linalg"),
            ("method", "linalg.Matrix.Matrix", 15, 19, "linalg.Matrix"),
            ("method", "linalg.Matrix.at", 21, 21, "linalg.Matrix"),
            ("method", "linalg.Matrix.transpose", 32, 40, "linalg.Matrix"),
            ("struct", "linalg.Shape", 42, 45, "linalg"),
            ("type", "Dim", 49, 49, None),
            ("function", "main", 51, 57, None),
        ],
        references=[
            ("import", "cstddef", 2, None),
            ("import", "stdexcept", 3, None),
            ("import", "vector", 4, None),
            ("import", "matrix.hpp", 6, None),
            ("call", "std::out_of_range", 17, "linalg.Matrix.Matrix"),
            ("call", "data_.at", 21, "linalg.Matrix.at"),
            ("call", "out.at", 36, "linalg.Matrix.transpose"),
            ("call", "m.transpose", 53, "main"),
            ("call", "linalg::Shape", 54, "main"),
            ("call", "static_cast", 56, "main"),
            ("call", "t.at", 56, "main"),
        ],
    ),
    "GUIDE.md": Expected(
        language="markdown",
        chunks=[
            (1, 1, "section", None),
            (3, 12, "section", "Getting started"),
            (13, 16, "section", "Configuration"),
            (17, 26, "section", "Indexing"),
            (27, 36, "section", "Languages"),
            (37, 44, "section", "Reference"),
        ],
        symbols=[],
        references=[],
    ),
}


def parse_fixture(name: str) -> tuple[str, BlobArtifact]:
    data = (FIXTURES / name).read_bytes()
    return data.decode(), parse_blob("oid", name, data)


def assert_covers(text: str, chunks: Sequence[Chunk]) -> None:
    """Every non-blank line in exactly one chunk, chunks in order and never overlapping."""
    lines = split_lines(text)
    covered: list[int] = []
    for chunk in chunks:
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines), chunk
        assert chunk.kind in CHUNK_KINDS
        covered.extend(range(chunk.start_line, chunk.end_line + 1))
    assert covered == sorted(set(covered)), "chunks overlap or are out of order"
    assert set(covered) >= {n for n, line in enumerate(lines, start=1) if line.strip()}


class TestFixtures:
    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_chunks(self, name: str) -> None:
        _, artifact = parse_fixture(name)
        got = [(c.start_line, c.end_line, c.kind, c.symbol) for c in artifact.chunks]
        assert got == EXPECTED[name].chunks

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_symbols(self, name: str) -> None:
        _, artifact = parse_fixture(name)
        got = [
            (s.kind, s.qualified_name, s.start_line, s.end_line, s.container)
            for s in artifact.symbols
        ]
        assert got == EXPECTED[name].symbols

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_references(self, name: str) -> None:
        _, artifact = parse_fixture(name)
        got = [(r.kind, r.name, r.line, r.source) for r in artifact.references]
        assert got == EXPECTED[name].references
        assert all(r.scopes == () and r.role is None for r in artifact.references)

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_artifact_metadata_and_chunk_terms(self, name: str) -> None:
        text, artifact = parse_fixture(name)
        assert (artifact.language, artifact.parser_version) == (EXPECTED[name].language, "ts-1")
        assert PARSER_VERSION == "ts-1"
        lines = split_lines(text)
        for chunk in artifact.chunks:
            chunk_text = "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
            assert chunk.terms == term_counts(chunk_text)
        assert_covers(text, artifact.chunks)

    def test_symbol_names_are_the_last_part_of_qualified_names(self) -> None:
        _, artifact = parse_fixture("matrix.cpp")
        names = {s.qualified_name: s.name for s in artifact.symbols}
        assert names["linalg.Matrix.transpose"] == "transpose"
        _, artifact = parse_fixture("OrderService.java")
        assert artifact.symbols[0].name == "com.example.orders"  # a package name stays whole

    def test_threads_parse_like_one_thread(self) -> None:
        names = sorted(EXPECTED) * 3
        with ThreadPoolExecutor(max_workers=4) as pool:
            artifacts = list(pool.map(lambda name: parse_fixture(name)[1], names))
        assert artifacts == [parse_fixture(name)[1] for name in names]

    def test_same_bytes_give_the_same_artifact(self) -> None:
        _, first = parse_fixture("inventory.py")
        for other in sorted(EXPECTED):
            parse_fixture(other)
        _, again = parse_fixture("inventory.py")
        assert first == again


EDIT_LINES = (
    "", "}", "{", "    pass", "def f(x):", "class A:", "/*", "*/", "# note", "```", "## Heading",
    "fn x() {", "func f() {", "int f(void) {", "  return 1;", '"""', "x = [", "]", "@decorator",
    "template <typename T>", "namespace n {", "impl A {", "export const y = () => {",
)  # fmt: skip


@st.composite
def edited_fixtures(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(EXPECTED)))
    lines = (FIXTURES / name).read_text().split("\n")
    for _ in range(draw(st.integers(0, 10))):
        at = draw(st.integers(0, len(lines)))
        edit = draw(st.sampled_from(["insert", "delete", "duplicate", "indent"]))
        if edit == "insert" or not lines or at == len(lines):
            lines.insert(at, draw(st.sampled_from(EDIT_LINES)))
        elif edit == "delete":
            del lines[at]
        elif edit == "duplicate":
            lines.insert(at, lines[at])
        else:
            lines[at] = "    " + lines[at]
    return name, "\n".join(lines)


@settings(max_examples=150, deadline=None, database=None)
@given(edited_fixtures())
def test_chunks_cover_edited_fixtures(case: tuple[str, str]) -> None:
    name, text = case
    artifact = parse_blob("oid", name, text.encode())
    assert_covers(text, artifact.chunks)


def _real_sources(per_language: int = 150) -> list[Path]:
    """A fixed sample of installed source files, evenly spread, up to `per_language` each."""
    site = Path(sysconfig.get_paths()["purelib"])
    patterns = ("*/*.py", "*/*/*.py", "*/*/*.c", "*/*/*.h", "*/*/*/*.h", "*/*/*/*.js")
    by_language: dict[str, list[Path]] = {}
    for pattern in patterns:
        for path in sorted(site.glob(pattern)):
            if 0 < path.stat().st_size < 40_000:
                by_language.setdefault(language_for(str(path)), []).append(path)
    return [
        path
        for paths in by_language.values()
        for path in paths[:: max(1, len(paths) // per_language)]
    ]


REAL_SOURCES = _real_sources()


@settings(max_examples=60, deadline=None, database=None)
@given(st.data())
def test_chunks_cover_real_source_files(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(REAL_SOURCES))
    raw = path.read_bytes()
    artifact = parse_blob("oid", str(path), raw)
    if artifact.skipped is None:
        assert_covers(raw.decode(), artifact.chunks)


class TestFallbacks:
    GARBAGE = ("}{ ) ( ] [ ;; :: @@ $$ ->> <<< ??? \n" * 40).encode()

    @pytest.mark.parametrize("path", ["x.py", "x.js", "x.ts", "x.go", "x.rs", "x.java", "x.cpp"])
    def test_garbage_in_a_supported_language_gets_windows(self, path: str) -> None:
        artifact = parse_blob("oid", path, self.GARBAGE)
        assert [(c.start_line, c.end_line, c.kind) for c in artifact.chunks] == [(1, 40, "window")]
        assert (artifact.symbols, artifact.references) == ((), ())

    def test_unsupported_language_gets_windows(self) -> None:
        source = b"class Greeter\n  def greet(name)\n    puts name\n  end\nend\n" * 20
        artifact = parse_blob("oid", "greeter.rb", source)
        assert artifact.language == "ruby"
        assert [(c.start_line, c.end_line, c.kind, c.symbol) for c in artifact.chunks] == [
            (1, 40, "window", None),
            (41, 100, "window", None),
        ]
        assert (artifact.symbols, artifact.references) == ((), ())

    def test_a_local_syntax_error_keeps_the_rest_of_the_file(self) -> None:
        source = b"def ok():\n    return 1\n\n\ndef broken(:\n    pass\n\n\nclass Fine:\n"
        source += b"    def m(self):\n        return ok()\n"
        artifact = parse_blob("oid", "broken.py", source)
        assert [s.qualified_name for s in artifact.symbols] == ["ok", "broken", "Fine", "Fine.m"]
        assert [(r.name, r.source) for r in artifact.references] == [("ok", "Fine.m")]

    def test_blank_file_in_a_supported_language(self) -> None:
        artifact = parse_blob("oid", "empty.go", b"\n\n")
        assert (artifact.symbols, artifact.references) == ((), ())
        assert_covers("\n\n", artifact.chunks)


class TestSizing:
    def test_a_long_definition_without_children_is_cut_into_windows(self) -> None:
        body = "".join(f"    x{i} = {i}\n" for i in range(130))
        artifact = parse_blob("oid", "big.py", f"def big():\n{body}".encode())
        assert [(c.start_line, c.end_line, c.kind, c.symbol) for c in artifact.chunks] == [
            (1, 40, "function", "big"),
            (41, 80, "function", "big"),
            (81, 131, "function", "big"),
        ]

    def test_tiny_pieces_merge_up_to_forty_lines(self) -> None:
        # Five-line functions at lines 1, 7, 13, ... 97, a blank line after each.
        outline = [Outline(n, n + 4, "function", f"f{n}") for n in range(1, 100, 6)]
        lines = ["" if n % 6 == 0 else "x" for n in range(1, 101)]
        spans = plan_spans(lines, outline)
        assert [(s.start, s.end, s.kind, s.symbol) for s in spans] == [
            (1, 35, "function", "f1"),
            (37, 71, "function", "f37"),
            (73, 100, "function", "f73"),
        ]

    def test_tiny_definitions_merged_with_module_code_become_module_code(self) -> None:
        outline = [Outline(3, 5, "function", "f"), Outline(7, 9, "function", "g")]
        assert plan_spans(["x"] * 9, outline) == [Span(1, 9, "module", None)]

    def test_overlapping_definitions_fold_into_the_first(self) -> None:
        outline = [Outline(1, 10, "function", "a"), Outline(10, 20, "function", "b")]
        assert plan_spans(["x"] * 20, outline) == [Span(1, 20, "function", "a")]

    def test_split_definition_keeps_its_own_lines_under_its_symbol(self) -> None:
        methods = tuple(Outline(n, n + 29, "method", f"C.m{n}") for n in (10, 50, 90))
        outline = [Outline(1, 125, "class", "C", methods)]
        assert plan_spans(["x"] * 125, outline) == [
            Span(1, 9, "class", "C"),
            Span(10, 39, "method", "C.m10"),
            Span(40, 49, "class", "C"),
            Span(50, 79, "method", "C.m50"),
            Span(80, 89, "class", "C"),
            Span(90, 119, "method", "C.m90"),
            Span(120, 125, "class", "C"),
        ]

    def test_module_code_longer_than_a_window_is_windowed(self) -> None:
        lines = ["x = 1"] * 130
        assert [(s.start, s.end) for s in plan_spans(lines, [])] == window_spans(lines)


class TestLanguageDetails:
    @pytest.mark.parametrize("language", sorted(SPECS))
    def test_every_query_compiles_against_its_grammar(self, language: str) -> None:
        prepare(language)  # raises QueryError for a node type the grammar lacks

    def test_cpp_in_a_dot_h_file_is_parsed_as_cpp(self) -> None:
        header = b"#pragma once\n#include <string>\n\nnamespace ui {\n\nclass Widget {\n"
        header += b" public:\n  explicit Widget(std::string name);\n  void draw() const;\n};\n\n}\n"
        artifact = parse_blob("oid", "widget.h", header)
        assert artifact.language == "c"
        assert [(s.kind, s.qualified_name) for s in artifact.symbols] == [
            ("module", "ui"),
            ("class", "ui.Widget"),
        ]

    def test_extern_c_guards_do_not_break_a_c_header(self) -> None:
        header = b'#ifdef __cplusplus\nextern "C" {\n#endif\n\nstatic inline int rb_empty(int n)\n'
        header += b"{\n    return n == 0;\n}\n\n#ifdef __cplusplus\n}\n#endif\n"
        artifact = parse_blob("oid", "rb.h", header)
        assert [(s.kind, s.qualified_name, s.start_line, s.end_line) for s in artifact.symbols] == [
            ("function", "rb_empty", 5, 8)
        ]

    def test_markdown_without_headings_is_one_untitled_section(self) -> None:
        artifact = parse_blob("oid", "NOTES.md", b"just text\n\nmore text\n")
        assert [(c.start_line, c.end_line, c.kind, c.symbol) for c in artifact.chunks] == [
            (1, 3, "section", None)
        ]

    @pytest.mark.parametrize(
        ("source", "expected"),
        [
            ("os.path.join", "os.path.join"),
            ("self.store.get", "self.store.get"),
            ("std::sort", "std::sort"),
            ("obj->run", "obj->run"),
            ("Vec::<u8>::new", "Vec::new"),
            ("get_client().send", "send"),
            ("items[0].close", "close"),
            ("make()", None),
            ("session\n    .query", "session.query"),
            ("$", "$"),
        ],
    )
    def test_callee_names(self, source: str, expected: str | None) -> None:
        data = source.encode()
        assert callee(data, 0, len(data)) == expected
