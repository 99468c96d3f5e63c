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
    # Swift, Scala, Lua, Bash
    "HTTPClient.swift": Expected(
        language="swift",
        chunks=[
            (1, 7, "module", None),
            (9, 21, "enum", "HTTPError"),
            (23, 27, "interface", "Transport"),
            (29, 36, "struct", "Endpoint"),
            (38, 86, "class", "HTTPClient"),
            (88, 99, "impl", "URLSession"),
            (101, 103, "function", "makeDefaultClient"),
        ],
        symbols=[
            ("constant", "defaultTimeout", 6, 6, None),
            ("variable", "requestCounter", 7, 7, None),
            ("enum", "HTTPError", 10, 21, None),
            ("interface", "Transport", 24, 27, None),
            ("method", "Transport.send", 25, 25, "Transport"),
            ("struct", "Endpoint", 29, 36, None),
            ("method", "Endpoint.url", 33, 35, "Endpoint"),
            ("class", "HTTPClient", 38, 86, None),
            ("method", "HTTPClient.init", 45, 49, "HTTPClient"),
            ("method", "HTTPClient.get", 51, 58, "HTTPClient"),
            ("method", "HTTPClient.perform", 60, 81, "HTTPClient"),
            ("method", "HTTPClient.backoff", 83, 85, "HTTPClient"),
            ("method", "URLSession.send", 92, 98, "URLSession"),
            ("function", "makeDefaultClient", 101, 103, None),
        ],
        references=[
            ("import", "Foundation", 3, None),
            ("import", "os.Logger", 4, None),
            ("call", "URL", 34, "Endpoint.url"),
            ("call", "Logger", 42, "HTTPClient"),
            ("call", "max", 48, "HTTPClient.init"),
            ("call", "perform", 52, "HTTPClient.get"),
            ("call", "decode", 54, "HTTPClient.get"),
            ("call", "JSONDecoder", 54, "HTTPClient.get"),
            ("call", "HTTPError.decoding", 56, "HTTPClient.get"),
            ("call", "endpoint.url", 61, "HTTPClient.perform"),
            ("call", "HTTPError.invalidURL", 62, "HTTPClient.perform"),
            ("call", "URLRequest", 64, "HTTPClient.perform"),
            ("call", "transport.send", 70, "HTTPClient.perform"),
            ("call", "HTTPError.status", 71, "HTTPClient.perform"),
            ("call", "logger.warning", 78, "HTTPClient.perform"),
            ("call", "Task.sleep", 79, "HTTPClient.perform"),
            ("call", "backoff", 79, "HTTPClient.perform"),
            ("call", "UInt64", 84, "HTTPClient.backoff"),
            ("call", "pow", 84, "HTTPClient.backoff"),
            ("call", "Double", 84, "HTTPClient.backoff"),
            ("call", "data", 93, "URLSession.send"),
            ("call", "HTTPError.status", 95, "URLSession.send"),
            ("call", "HTTPClient", 102, "makeDefaultClient"),
        ],
    ),
    "RateLimiter.scala": Expected(
        language="scala",
        chunks=[
            (1, 26, "module", None),
            (28, 58, "class", "RateLimiter"),
            (60, 73, "class", "RateLimiter"),
            (75, 77, "class", "SystemClock"),
        ],
        symbols=[
            ("module", "com.example.ratelimit", 1, 1, None),
            ("trait", "Decision", 8, 10, None),
            ("method", "Decision.allowed", 9, 9, "Decision"),
            ("class", "Allowed", 12, 14, None),
            ("method", "Allowed.allowed", 13, 13, "Allowed"),
            ("class", "Throttled", 16, 18, None),
            ("method", "Throttled.allowed", 17, 17, "Throttled"),
            ("enum", "Strategy", 20, 22, None),
            ("trait", "Clock", 24, 26, None),
            ("method", "Clock.nowMillis", 25, 25, "Clock"),
            ("class", "RateLimiter", 29, 58, None),
            ("method", "RateLimiter.tryAcquire", 33, 46, "RateLimiter"),
            ("method", "RateLimiter.refill", 48, 53, "RateLimiter"),
            ("method", "RateLimiter.rejectedKeys", 55, 55, "RateLimiter"),
            ("class", "RateLimiter.Bucket", 57, 57, "RateLimiter"),
            ("class", "RateLimiter", 60, 73, None),
            ("constant", "RateLimiter.DefaultCapacity", 61, 61, "RateLimiter"),
            ("variable", "RateLimiter.created", 62, 62, "RateLimiter"),
            ("type", "RateLimiter.Limits", 64, 64, "RateLimiter"),
            ("method", "RateLimiter.apply", 66, 69, "RateLimiter"),
            ("method", "RateLimiter.waitFor", 71, 72, "RateLimiter"),
            ("class", "SystemClock", 75, 77, None),
            ("method", "SystemClock.nowMillis", 76, 76, "SystemClock"),
        ],
        references=[
            ("import", "java.util.concurrent.ConcurrentHashMap", 3, None),
            ("import", "scala.concurrent.duration._", 4, None),
            ("import", "scala.collection.mutable.ArrayBuffer", 5, None),
            ("import", "scala.collection.mutable.Map", 5, None),
            ("call", "ConcurrentHashMap", 30, "RateLimiter"),
            ("call", "buckets.computeIfAbsent", 34, "RateLimiter.tryAcquire"),
            ("call", "Bucket", 34, "RateLimiter.tryAcquire"),
            ("call", "clock.nowMillis", 34, "RateLimiter.tryAcquire"),
            ("call", "bucket.synchronized", 35, "RateLimiter.tryAcquire"),
            ("call", "refill", 36, "RateLimiter.tryAcquire"),
            ("call", "Allowed", 39, "RateLimiter.tryAcquire"),
            ("call", "Throttled", 43, "RateLimiter.tryAcquire"),
            ("call", "RateLimiter.waitFor", 43, "RateLimiter.tryAcquire"),
            ("call", "clock.nowMillis", 49, "RateLimiter.refill"),
            ("call", "math.min", 51, "RateLimiter.refill"),
            ("call", "RateLimiter", 68, "RateLimiter.apply"),
            ("call", "math.ceil", 72, "RateLimiter.waitFor"),
            ("call", "System.currentTimeMillis", 76, "SystemClock.nowMillis"),
        ],
    ),
    "lru.lua": Expected(
        language="lua",
        chunks=[
            (1, 10, "module", None),
            (12, 22, "function", "unlink"),
            (24, 35, "method", "LRU.new"),
            (37, 46, "method", "LRU.get"),
            (48, 62, "method", "LRU.set"),
            (64, 73, "method", "LRU.evict"),
            (75, 83, "method", "LRU.dump"),
            (85, 89, "module", None),
        ],
        symbols=[
            ("variable", "json", 3, 3, None),
            ("variable", "clock", 4, 4, None),
            ("module", "LRU", 6, 6, None),
            ("constant", "DEFAULT_CAPACITY", 9, 9, None),
            ("variable", "evictions", 10, 10, None),
            ("function", "unlink", 12, 15, None),
            ("function", "push_front", 17, 22, None),
            ("method", "LRU.new", 25, 35, "LRU"),
            ("method", "LRU.get", 37, 46, "LRU"),
            ("method", "LRU.set", 48, 62, "LRU"),
            ("method", "LRU.evict", 64, 73, "LRU"),
            ("method", "LRU.dump", 75, 83, "LRU"),
            ("function", "stats", 85, 87, None),
        ],
        references=[
            ("call", "require", 3, "json"),
            ("import", "cjson", 3, "json"),
            ("call", "require", 4, "clock"),
            ("import", "lib.clock", 4, "clock"),
            ("call", "setmetatable", 26, "LRU.new"),
            ("call", "unlink", 42, "LRU.get"),
            ("call", "push_front", 43, "LRU.get"),
            ("call", "clock.now", 44, "LRU.get"),
            ("call", "unlink", 52, "LRU.set"),
            ("call", "push_front", 58, "LRU.set"),
            ("call", "evict", 60, "LRU.set"),
            ("call", "unlink", 69, "LRU.evict"),
            ("call", "table.insert", 79, "LRU.dump"),
            ("call", "json.encode", 82, "LRU.dump"),
            ("call", "string.format", 86, "stats"),
        ],
    ),
    "deploy.sh": Expected(
        language="shell",
        chunks=[
            (1, 11, "module", None),
            (13, 44, "function", "log"),
            (46, 56, "function", "wait_for_rollout"),
            (58, 65, "function", "rollout"),
            (67, 76, "module", None),
        ],
        symbols=[
            ("function", "log", 14, 16, None),
            ("function", "die", 18, 21, None),
            ("function", "require_tools", 23, 28, None),
            ("function", "build_image", 30, 36, None),
            ("function", "push_image", 38, 44, None),
            ("function", "wait_for_rollout", 47, 56, None),
            ("function", "rollout", 58, 65, None),
        ],
        references=[
            ("call", "dirname", 5, None),
            ("import", "${SCRIPT_DIR}/lib/common.sh", 6, None),
            ("import", "./deploy.env", 7, None),
            ("call", "git", 11, None),
            ("call", "date", 15, "log"),
            ("call", "log", 19, "die"),
            ("call", "die", 26, "require_tools"),
            ("call", "log", 31, "build_image"),
            ("call", "docker", 32, "build_image"),
            ("call", "log", 40, "push_image"),
            ("call", "docker", 43, "push_image"),
            ("call", "kubectl", 50, "wait_for_rollout"),
            ("call", "sleep", 53, "wait_for_rollout"),
            ("call", "die", 55, "wait_for_rollout"),
            ("call", "mktemp", 60, "rollout"),
            ("call", "sed", 62, "rollout"),
            ("call", "kubectl", 63, "rollout"),
            ("call", "wait_for_rollout", 64, "rollout"),
            ("call", "die", 69, None),
            ("call", "require_tools", 72, None),
            ("call", "build_image", 73, None),
            ("call", "push_image", 74, None),
            ("call", "rollout", 75, None),
            ("call", "log", 76, None),
        ],
    ),
    # Ruby, PHP, C#, Kotlin
    "ledger.rb": Expected(
        language="ruby",
        chunks=[
            (1, 5, "module", None),
            (7, 8, "module", "Billing"),
            (10, 73, "class", "Billing.Ledger"),
            (75, 80, "class", "Billing.LimitReached"),
            (82, 119, "class", "Billing.Statement"),
            (121, 130, "module", "Billing"),
            (132, 134, "function", "ledger_for"),
        ],
        symbols=[
            ("module", "Billing", 7, 130, None),
            ("constant", "Billing.CURRENCIES", 8, 8, "Billing"),
            ("class", "Billing.Ledger", 11, 73, "Billing"),
            ("constant", "Billing.Ledger.DEFAULT_CURRENCY", 14, 14, "Billing.Ledger"),
            ("constant", "Billing.Ledger.MAX_ENTRIES", 15, 15, "Billing.Ledger"),
            ("method", "Billing.Ledger.open_for", 22, 26, "Billing.Ledger"),
            ("method", "Billing.Ledger.post", 28, 35, "Billing.Ledger"),
            ("method", "Billing.Ledger.balance", 37, 39, "Billing.Ledger"),
            ("method", "Billing.Ledger.settled?", 41, 43, "Billing.Ledger"),
            ("method", "Billing.Ledger.recent", 46, 48, "Billing.Ledger"),
            ("method", "Billing.Ledger.<=>", 50, 52, "Billing.Ledger"),
            ("method", "Billing.Ledger.reconcile_all", 55, 57, "Billing.Ledger"),
            ("method", "Billing.Ledger.reconcile!", 60, 66, "Billing.Ledger"),
            ("method", "Billing.Ledger.audit_trail", 70, 72, "Billing.Ledger"),
            ("class", "Billing.LimitReached", 76, 80, "Billing"),
            ("method", "Billing.LimitReached.initialize", 77, 79, "Billing.LimitReached"),
            ("class", "Billing.Statement", 83, 119, "Billing"),
            ("method", "Billing.Statement.initialize", 86, 89, "Billing.Statement"),
            ("method", "Billing.Statement.lines", 91, 95, "Billing.Statement"),
            ("method", "Billing.Statement.opening_balance", 97, 99, "Billing.Statement"),
            ("method", "Billing.Statement.closing_balance", 101, 103, "Billing.Statement"),
            ("method", "Billing.Statement.to_csv", 105, 110, "Billing.Statement"),
            ("method", "Billing.Statement.empty?", 112, 114, "Billing.Statement"),
            ("method", "Billing.Statement.[]", 116, 118, "Billing.Statement"),
            ("method", "Billing.parse_amount", 121, 125, "Billing"),
            ("method", "Billing.format", 127, 129, "Billing"),
            ("function", "ledger_for", 132, 134, None),
        ],
        references=[
            ("call", "require", 3, None),
            ("import", "bigdecimal", 3, None),
            ("call", "require_relative", 4, None),
            ("import", "../support/money", 4, None),
            ("call", "require", 5, None),
            ("import", "csv", 5, None),
            ("call", "freeze", 8, "Billing.CURRENCIES"),
            ("call", "include", 12, "Billing.Ledger"),
            ("call", "belongs_to", 17, "Billing.Ledger"),
            ("call", "has_many", 18, "Billing.Ledger"),
            ("call", "validates", 19, "Billing.Ledger"),
            ("call", "find_or_create_by!", 23, "Billing.Ledger.open_for"),
            ("call", "ledger.currency", 24, "Billing.Ledger.open_for"),
            ("call", "account.currency", 24, "Billing.Ledger.open_for"),
            ("call", "raise", 29, "Billing.Ledger.post"),
            ("call", "amount.positive?", 29, "Billing.Ledger.post"),
            ("call", "raise", 30, "Billing.Ledger.post"),
            ("call", "entries.count", 30, "Billing.Ledger.post"),
            ("call", "entries.create!", 32, "Billing.Ledger.post"),
            ("call", "BigDecimal", 32, "Billing.Ledger.post"),
            ("call", "amount.to_s", 32, "Billing.Ledger.post"),
            ("call", "Rails.logger", 33, "Billing.Ledger.post"),
            ("call", "Rails.logger.info", 33, "Billing.Ledger.post"),
            ("call", "entry.id", 33, "Billing.Ledger.post"),
            ("call", "entries.sum", 38, "Billing.Ledger.balance"),
            ("call", "balance.zero?", 42, "Billing.Ledger.settled?"),
            ("call", "ago", 46, "Billing.Ledger.recent"),
            ("call", "week", 46, "Billing.Ledger.recent"),
            ("call", "entries.where", 47, "Billing.Ledger.recent"),
            ("call", "order", 47, "Billing.Ledger.recent"),
            ("call", "other.balance", 51, "Billing.Ledger.<=>"),
            ("call", "find_each", 56, "Billing.Ledger.reconcile_all"),
            ("call", "transaction", 61, "Billing.Ledger.reconcile!"),
            ("call", "entries.where", 62, "Billing.Ledger.reconcile!"),
            ("call", "stale.each", 63, "Billing.Ledger.reconcile!"),
            ("call", "entry.update!", 63, "Billing.Ledger.reconcile!"),
            ("call", "AuditTrail.new", 71, "Billing.Ledger.audit_trail"),
            ("call", "attr_reader", 84, "Billing.Statement"),
            ("call", "Date.current", 86, "Billing.Statement.initialize"),
            ("call", "Date.current.all_month", 86, "Billing.Statement.initialize"),
            ("call", "ledger.entries", 92, "Billing.Statement.lines"),
            ("call", "ledger.entries.where", 92, "Billing.Statement.lines"),
            ("call", "map", 92, "Billing.Statement.lines"),
            ("call", "order", 92, "Billing.Statement.lines"),
            ("call", "entry.created_at", 93, "Billing.Statement.lines"),
            ("call", "entry.created_at.to_date", 93, "Billing.Statement.lines"),
            ("call", "entry.memo", 93, "Billing.Statement.lines"),
            ("call", "Billing.format", 93, "Billing.Statement.lines"),
            ("call", "entry.amount", 93, "Billing.Statement.lines"),
            ("call", "ledger.entries", 98, "Billing.Statement.opening_balance"),
            ("call", "ledger.entries.where", 98, "Billing.Statement.opening_balance"),
            ("call", "sum", 98, "Billing.Statement.opening_balance"),
            ("call", "period.first", 98, "Billing.Statement.opening_balance"),
            ("call", "lines.sum", 102, "Billing.Statement.closing_balance"),
            ("call", "line.last", 102, "Billing.Statement.closing_balance"),
            ("call", "line.last.to_d", 102, "Billing.Statement.closing_balance"),
            ("call", "CSV.generate", 106, "Billing.Statement.to_csv"),
            ("call", "lines.each", 108, "Billing.Statement.to_csv"),
            ("call", "lines.empty?", 113, "Billing.Statement.empty?"),
            ("call", "BigDecimal", 122, "Billing.parse_amount"),
            ("call", "text.to_s", 122, "Billing.parse_amount"),
            ("call", "text.to_s.delete", 122, "Billing.parse_amount"),
            ("call", "Money.new", 128, "Billing.format"),
            ("call", "format", 128, "Billing.format"),
            ("call", "Billing::Ledger.open_for", 133, "ledger_for"),
        ],
    ),
    "InvoiceRepository.php": Expected(
        language="php",
        chunks=[
            (1, 14, "module", None),
            (16, 26, "enum", "InvoiceStatus"),
            (28, 33, "interface", "InvoiceStore"),
            (35, 43, "trait", "LogsQueries"),
            (45, 100, "class", "InvoiceRepository"),
            (102, 105, "function", "invoice_total"),
        ],
        symbols=[
            ("module", "App\\Billing", 5, 5, None),
            ("constant", "DEFAULT_PAGE_SIZE", 14, 14, None),
            ("enum", "InvoiceStatus", 16, 26, None),
            ("method", "InvoiceStatus.isOpen", 22, 25, "InvoiceStatus"),
            ("interface", "InvoiceStore", 28, 33, None),
            ("method", "InvoiceStore.find", 30, 30, "InvoiceStore"),
            ("method", "InvoiceStore.save", 32, 32, "InvoiceStore"),
            ("trait", "LogsQueries", 35, 43, None),
            ("method", "LogsQueries.logger", 37, 37, "LogsQueries"),
            ("method", "LogsQueries.logQuery", 39, 42, "LogsQueries"),
            ("class", "InvoiceRepository", 48, 100, None),
            ("constant", "InvoiceRepository.TABLE", 53, 53, "InvoiceRepository"),
            ("constant", "InvoiceRepository.COLUMNS", 54, 54, "InvoiceRepository"),
            ("method", "InvoiceRepository.__construct", 58, 62, "InvoiceRepository"),
            ("method", "InvoiceRepository.find", 64, 76, "InvoiceRepository"),
            ("method", "InvoiceRepository.save", 78, 85, "InvoiceRepository"),
            ("method", "InvoiceRepository.open", 88, 94, "InvoiceRepository"),
            ("method", "InvoiceRepository.logger", 96, 99, "InvoiceRepository"),
            ("function", "invoice_total", 102, 105, None),
        ],
        references=[
            ("import", "App\\Billing\\Exceptions\\InvoiceNotFound", 7, None),
            ("import", "Psr\\Log\\LoggerInterface", 8, None),
            ("import", "Doctrine\\DBAL\\Connection", 9, None),
            ("import", "Doctrine\\DBAL\\ParameterType", 9, None),
            ("import", "App\\Support\\money_format", 10, None),
            ("import", "helpers.php", 12, None),
            ("call", "$this->logger", 41, "LogsQueries.logQuery"),
            ("call", "debug", 41, "LogsQueries.logQuery"),
            ("call", "isset", 66, "InvoiceRepository.find"),
            ("call", "sprintf", 69, "InvoiceRepository.find"),
            ("call", "implode", 69, "InvoiceRepository.find"),
            ("call", "$this->logQuery", 70, "InvoiceRepository.find"),
            ("call", "$this->db->fetchAssociative", 71, "InvoiceRepository.find"),
            ("call", "InvoiceNotFound", 73, "InvoiceRepository.find"),
            ("call", "Invoice::fromRow", 75, "InvoiceRepository.find"),
            ("call", "$this->db->transactional", 80, "InvoiceRepository.save"),
            ("call", "$db->update", 81, "InvoiceRepository.save"),
            ("call", "$invoice->toRow", 81, "InvoiceRepository.save"),
            ("call", "$this->log->info", 84, "InvoiceRepository.save"),
            ("call", "money_format", 84, "InvoiceRepository.save"),
            ("call", "array_values", 90, "InvoiceRepository.open"),
            ("call", "array_filter", 90, "InvoiceRepository.open"),
            ("call", "array_map", 91, "InvoiceRepository.open"),
            ("call", "$store->find", 91, "InvoiceRepository.open"),
            ("call", "isOpen", 92, "InvoiceRepository.open"),
            ("call", "array_sum", 104, "invoice_total"),
            ("call", "array_map", 104, "invoice_total"),
        ],
    ),
    "PaymentGateway.cs": Expected(
        language="csharp",
        chunks=[
            (1, 36, "module", None),
            (38, 91, "class", "PaymentGateway"),
            (93, 93, "type", "ChargeHandler"),
            (95, 102, "class", "GatewayExtensions"),
        ],
        symbols=[
            ("module", "Acme.Payments", 7, 7, None),
            ("class", "ChargeRequest", 10, 10, None),
            ("class", "ChargeResult", 12, 15, None),
            ("method", "ChargeResult.Succeeded", 14, 14, "ChargeResult"),
            ("enum", "ChargeStatus", 17, 22, None),
            ("struct", "Money", 24, 29, None),
            ("method", "Money.Money", 26, 26, "Money"),
            ("method", "Money.Cents", 28, 28, "Money"),
            ("interface", "IPaymentGateway", 31, 36, None),
            ("method", "IPaymentGateway.ChargeAsync", 33, 33, "IPaymentGateway"),
            ("method", "IPaymentGateway.Name", 35, 35, "IPaymentGateway"),
            ("class", "PaymentGateway", 39, 91, None),
            ("constant", "PaymentGateway.MaxAttempts", 42, 42, "PaymentGateway"),
            ("method", "PaymentGateway.PaymentGateway", 46, 50, "PaymentGateway"),
            ("method", "PaymentGateway.Name", 52, 52, "PaymentGateway"),
            ("method", "PaymentGateway.ChargeAsync", 57, 77, "PaymentGateway"),
            (
                "function",
                "PaymentGateway.ChargeAsync.Backoff",
                76,
                76,
                "PaymentGateway.ChargeAsync",
            ),
            ("method", "PaymentGateway.Fee", 79, 79, "PaymentGateway"),
            ("method", "PaymentGateway.Dispose", 81, 85, "PaymentGateway"),
            ("class", "PaymentGateway.Receipt", 87, 90, "PaymentGateway"),
            ("method", "PaymentGateway.Receipt.Render", 89, 89, "PaymentGateway.Receipt"),
            ("type", "ChargeHandler", 93, 93, None),
            ("class", "GatewayExtensions", 95, 102, None),
            ("method", "GatewayExtensions.AddPayments", 97, 101, "GatewayExtensions"),
        ],
        references=[
            ("import", "System", 1, None),
            ("import", "System.Net.Http.Json", 2, None),
            ("import", "Microsoft.Extensions.Logging", 3, None),
            ("import", "System.Math", 4, None),
            ("import", "System.TimeProvider", 5, None),
            ("call", "ArgumentNullException", 48, "PaymentGateway.PaymentGateway"),
            ("call", "nameof", 48, "PaymentGateway.PaymentGateway"),
            ("call", "_http.PostAsJsonAsync", 63, "PaymentGateway.ChargeAsync"),
            ("call", "response.EnsureSuccessStatusCode", 64, "PaymentGateway.ChargeAsync"),
            ("call", "response.Content.ReadFromJsonAsync", 65, "PaymentGateway.ChargeAsync"),
            ("call", "Charged?.Invoke", 66, "PaymentGateway.ChargeAsync"),
            ("call", "_logger.LogWarning", 71, "PaymentGateway.ChargeAsync"),
            ("call", "Task.Delay", 72, "PaymentGateway.ChargeAsync"),
            ("call", "Backoff", 72, "PaymentGateway.ChargeAsync"),
            ("call", "TimeSpan.FromMilliseconds", 76, "PaymentGateway.ChargeAsync.Backoff"),
            ("call", "Pow", 76, "PaymentGateway.ChargeAsync.Backoff"),
            ("call", "Money", 79, "PaymentGateway.Fee"),
            ("call", "Round", 79, "PaymentGateway.Fee"),
            ("call", "_http.Dispose", 83, "PaymentGateway.Dispose"),
            ("call", "GC.SuppressFinalize", 84, "PaymentGateway.Dispose"),
            ("call", "string.Format", 89, "PaymentGateway.Receipt.Render"),
            ("call", "services.AddHttpClient", 99, "GatewayExtensions.AddPayments"),
        ],
    ),
    "SessionStore.kt": Expected(
        language="kotlin",
        chunks=[
            (1, 11, "module", None),
            (13, 17, "type", "SessionListener"),
            (19, 28, "class", "Session"),
            (30, 42, "enum", "Outcome"),
            (44, 81, "class", "SessionStore"),
            (83, 92, "class", "InMemoryRepository"),
            (94, 94, "function", "cookie"),
        ],
        symbols=[
            ("module", "com.acme.auth.session", 1, 1, None),
            ("constant", "SESSION_COOKIE", 9, 9, None),
            ("variable", "DEFAULT_TTL", 10, 10, None),
            ("variable", "activeStores", 11, 11, None),
            ("type", "SessionListener", 13, 13, None),
            ("class", "SessionId", 16, 17, None),
            ("class", "Session", 19, 28, None),
            ("method", "Session.renewed", 27, 27, "Session"),
            ("enum", "Outcome", 30, 36, None),
            ("method", "Outcome.isTerminal", 35, 35, "Outcome"),
            ("interface", "SessionRepository", 38, 42, None),
            ("method", "SessionRepository.load", 39, 39, "SessionRepository"),
            ("method", "SessionRepository.save", 41, 41, "SessionRepository"),
            ("class", "SessionStore", 45, 81, None),
            ("method", "SessionStore.constructor", 56, 56, "SessionStore"),
            ("method", "SessionStore.onChange", 58, 60, "SessionStore"),
            ("method", "SessionStore.get", 62, 65, "SessionStore"),
            ("method", "SessionStore.put", 67, 73, "SessionStore"),
            ("constant", "SessionStore.MAX_SESSIONS", 76, 76, "SessionStore"),
            ("variable", "SessionStore.log", 77, 77, "SessionStore"),
            ("method", "SessionStore.inMemory", 79, 79, "SessionStore"),
            ("class", "InMemoryRepository", 83, 92, None),
            ("variable", "InMemoryRepository.rows", 84, 84, "InMemoryRepository"),
            ("variable", "InMemoryRepository.size", 85, 85, "InMemoryRepository"),
            ("method", "InMemoryRepository.load", 87, 87, "InMemoryRepository"),
            ("method", "InMemoryRepository.save", 89, 91, "InMemoryRepository"),
            ("function", "cookie", 94, 94, None),
        ],
        references=[
            ("import", "java.time.Duration", 3, None),
            ("import", "java.time.Instant", 4, None),
            ("import", "java.util.concurrent.ConcurrentHashMap", 5, None),
            ("import", "kotlinx.coroutines", 6, None),
            ("import", "org.slf4j.LoggerFactory", 7, None),
            ("call", "Duration.ofMinutes", 10, "DEFAULT_TTL"),
            ("call", "Instant.now", 25, "Session"),
            ("call", "isAfter", 25, "Session"),
            ("call", "copy", 27, "Session.renewed"),
            ("call", "Instant.now", 27, "Session.renewed"),
            ("call", "plus", 27, "Session.renewed"),
            ("call", "ConcurrentHashMap", 49, "SessionStore"),
            ("call", "mutableListOf", 50, "SessionStore"),
            ("call", "CoroutineScope", 56, "SessionStore.constructor"),
            ("call", "also", 63, "SessionStore.get"),
            ("call", "repository.load", 63, "SessionStore.get"),
            ("call", "cached?.takeUnless", 64, "SessionStore.get"),
            ("call", "sessions.put", 68, "SessionStore.put"),
            ("call", "listeners.forEach", 69, "SessionStore.put"),
            ("call", "it", 69, "SessionStore.put"),
            ("call", "scope.launch", 70, "SessionStore.put"),
            ("call", "repository.save", 70, "SessionStore.put"),
            ("call", "log.debug", 71, "SessionStore.put"),
            ("call", "Logs.getLogger", 77, "SessionStore.log"),
            ("call", "SessionStore", 79, "SessionStore.inMemory"),
            ("call", "HashMap", 84, "InMemoryRepository.rows"),
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
        assert (artifact.language, artifact.parser_version) == (EXPECTED[name].language, "ts-2")
        assert PARSER_VERSION == "ts-2"
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
        source = b"defmodule Greeter do\n  def greet(name) do\n    IO.puts(name)\n  end\nend\n" * 20
        artifact = parse_blob("oid", "greeter.ex", source)
        assert artifact.language == "elixir"
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
