"""Base + delta + tombstones answer exactly as a full rebuild over the live files would."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.lexical import Hit, LexicalSegment, SegmentFile
from chalicelib.domain.lexical_view import LexicalView, compact
from chalicelib.domain.models import Chunk
from chalicelib.domain.tokens import term_counts

WORDS = (
    "parseConfig", "parse_config", "HTTPServer", "http_server", "loadJson", "load", "json",
    "value", "return", "def", "self", "request", "handle_request", "x2", "cache", "Cache",
    "getItem", "item", "the", "of",
)  # fmt: skip
PATHS = (
    "a.py", "src/config.py", "src/http_server.py", "src/parse.py", "lib/cache.py",
    "lib/json_loader.py", "docs/readme.md", "z/item.py",
)  # fmt: skip
QUERY_WORDS = (*WORDS, "config", "server", "readme", "loader", "docs", "unknownterm", "py")


def segment_file(path: str, text: str, window: int = 2, oid: str | None = None) -> SegmentFile:
    """A file cut into chunks of `window` lines, as a parser's windows would be."""
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    chunks = tuple(
        Chunk(s + 1, min(s + window, len(lines)), "window", None, term_counts("\n".join(part)))
        for s in range(0, len(lines), window)
        for part in [lines[s : s + window]]
    )
    return SegmentFile(path, oid or f"oid-{path}-{hash(text)}", "python", text, chunks)


def rebuild(files: Mapping[str, SegmentFile]) -> LexicalSegment:
    return LexicalSegment.build(files[p] for p in sorted(files))


def incremental(
    base_files: Mapping[str, SegmentFile], live: Mapping[str, SegmentFile], base_order: list[str]
) -> LexicalView:
    """The view a generation would store: the base as built, a delta of what differs."""
    base = LexicalSegment.build(base_files[p] for p in base_order)
    changed = sorted(p for p, f in live.items() if base_files.get(p) != f)
    tombstones = {p for p, f in base_files.items() if live.get(p) != f}
    delta = LexicalSegment.build(live[p] for p in changed) if changed else None
    return LexicalView(base, delta, tombstones)


def assert_same(view: LexicalView, full: LexicalSegment, queries: list[str], k: int) -> None:
    assert view.paths == full.paths
    assert (view.num_files, view.num_chunks) == (full.num_files, full.num_chunks)
    for query in queries:
        hits = view.search(query, k)
        assert hits == full.search(query, k), query  # paths, lines, chunk, bit-equal scores
        for hit in hits:
            assert view.snippet(hit, query, 3) == full.snippet(hit, query, 3)
    for path in (*PATHS, "missing.py"):
        assert view.file_text(path) == full.file_text(path)
        assert view.file_oid(path) == full.file_oid(path)
        assert view.lines(path, 1, 2) == full.lines(path, 1, 2)


line_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
file_text = st.lists(line_text, min_size=1, max_size=6).map(lambda ls: "\n".join(ls) + "\n")
SHARED_TEXT = "def parse_config(self):\n    return value\nreturn value\nreturn value\n"
any_text = st.one_of(file_text, st.just(SHARED_TEXT))  # equal texts make equal scores
corpus = st.dictionaries(st.sampled_from(PATHS), any_text, max_size=6)
query = st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=3).map(" ".join)


@st.composite
def generations(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """A base corpus, the corpus after random edits, and the order the base was built in."""
    base = draw(corpus)
    live = dict(base)
    for path in sorted(base):
        edit = draw(st.sampled_from(("keep", "keep", "modify", "delete", "rename")))
        if edit == "modify":
            live[path] = draw(any_text)
        elif edit in ("delete", "rename"):
            text = live.pop(path)
            if edit == "rename":
                live[draw(st.sampled_from(PATHS))] = text
    live.update(draw(st.dictionaries(st.sampled_from(PATHS), any_text, max_size=2)))
    return base, live, draw(st.permutations(sorted(base)))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generations(),
    st.lists(query, min_size=1, max_size=4),
    st.integers(-1, 12),
    st.integers(1, 3),
)
def test_view_answers_exactly_as_a_full_rebuild(
    gen: tuple[dict[str, str], dict[str, str], list[str]],
    queries: list[str],
    k: int,
    window: int,
) -> None:
    base_texts, live_texts, order = gen
    base_files = {p: segment_file(p, t, window) for p, t in base_texts.items()}
    live = {p: segment_file(p, t, window) for p, t in live_texts.items()}
    assert_same(incremental(base_files, live, order), rebuild(live), queries, k)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generations(), st.integers(1, 3))
def test_compaction_stores_the_bytes_of_a_full_rebuild(
    gen: tuple[dict[str, str], dict[str, str], list[str]], window: int
) -> None:
    base_texts, live_texts, order = gen
    base_files = {p: segment_file(p, t, window) for p, t in base_texts.items()}
    live = {p: segment_file(p, t, window) for p, t in live_texts.items()}
    compacted = incremental(base_files, live, order).compacted()
    assert compacted.to_bytes() == rebuild(live).to_bytes()
    assert compact(compacted, None, set()).to_bytes() == compacted.to_bytes()


CORPUS = {
    "src/config.py": "def parse_config(text):\n    return load_json(text)\n",
    "src/server.py": "class HTTPServer:\n    def handle_request(self, request):\n        pass\n",
    "src/cache.py": "class Cache:\n    def get_item(self, key):\n        return self.items[key]\n",
    "docs/readme.md": "The config file and the server cache.\n",
}


@pytest.fixture
def base_files() -> dict[str, SegmentFile]:
    return {p: segment_file(p, t) for p, t in CORPUS.items()}


def test_base_with_empty_delta_and_no_tombstones_is_the_base(
    base_files: dict[str, SegmentFile],
) -> None:
    base = rebuild(base_files)
    for delta in (None, LexicalSegment.build(())):
        view = LexicalView(base, delta, frozenset())
        queries = ["config", "server request", "cache item", "the"]
        assert_same(view, base, queries, 10)


def edited(base_files: dict[str, SegmentFile]) -> tuple[LexicalView, dict[str, SegmentFile]]:
    live = dict(base_files)
    del live["src/cache.py"]
    live["src/config.py"] = segment_file("src/config.py", "def parse_settings(raw):\n    pass\n")
    live["src/new_cache.py"] = segment_file("src/new_cache.py", "class Cache:\n    pass\n")
    return incremental(base_files, live, sorted(base_files)), live


def test_deleted_files_never_appear(base_files: dict[str, SegmentFile]) -> None:
    view, _ = edited(base_files)
    hits = view.search("cache get_item items key", 10)
    assert {h.path for h in hits} == {"src/new_cache.py", "docs/readme.md"}
    assert "src/cache.py" not in view.paths
    assert view.file_text("src/cache.py") is None
    assert view.file_oid("src/cache.py") is None
    assert view.lines("src/cache.py", 1, 1) is None


def test_changed_files_answer_only_in_their_new_version(
    base_files: dict[str, SegmentFile],
) -> None:
    view, live = edited(base_files)
    assert view.search("load_json", 10) == []
    [hit] = view.search("parse_settings", 10)
    assert (hit.path, hit.start_line, hit.end_line) == ("src/config.py", 1, 2)
    assert view.file_text("src/config.py") == live["src/config.py"].text
    assert view.file_oid("src/config.py") == live["src/config.py"].oid
    assert view.lines("src/config.py", 2, 2) == "    pass"
    assert view.lines("src/config.py", 2, 3) is None


def test_snippets_come_from_delta_and_base_files(base_files: dict[str, SegmentFile]) -> None:
    view, _ = edited(base_files)
    [delta_hit] = view.search("parse_settings", 1)
    assert view.snippet(delta_hit, "parse_settings", 1) == "def parse_settings(raw):"
    [base_hit] = view.search("handle_request", 1)
    assert base_hit.path == "src/server.py"
    assert view.snippet(base_hit, "handle_request", 1) == "    def handle_request(self, request):"


def test_hit_chunk_is_the_rebuilds_chunk_index(base_files: dict[str, SegmentFile]) -> None:
    view, live = edited(base_files)
    full = rebuild(live)
    hits = view.search("class def return pass config", 20)
    assert len(hits) == full.num_chunks and hits == full.search("class def return pass config", 20)


@pytest.mark.parametrize("query", ["", "   ", "!!!", "unknownterm", "zzz qqq"])
def test_empty_and_unknown_queries_find_nothing(
    base_files: dict[str, SegmentFile], query: str
) -> None:
    view, _ = edited(base_files)
    assert view.search(query, 10) == []


def test_terms_only_in_tombstoned_files_are_unknown(base_files: dict[str, SegmentFile]) -> None:
    view, _ = edited(base_files)
    assert view.search("get_item", 10) == []
    assert view.search("get_item parse_settings", 10) == view.search("parse_settings", 10)


@pytest.mark.parametrize("k", [-3, 0])
def test_non_positive_k_finds_nothing(base_files: dict[str, SegmentFile], k: int) -> None:
    view, _ = edited(base_files)
    assert view.search("config", k) == []


def test_k_bounds_the_hits(base_files: dict[str, SegmentFile]) -> None:
    view, live = edited(base_files)
    assert len(view.search("return pass class def", 2)) == 2
    assert view.search("config", 1) == rebuild(live).search("config", 1)


def test_everything_tombstoned_is_empty(base_files: dict[str, SegmentFile]) -> None:
    view = LexicalView(rebuild(base_files), None, frozenset(base_files))
    assert (view.paths, view.num_files, view.num_chunks) == ((), 0, 0)
    assert view.search("config", 10) == []
    assert view.snippet(Hit("src/config.py", 1, 2, 1.0, "python", 0), "config") == ""
