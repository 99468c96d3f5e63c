"""The packed BM25 segment: ranking on corpora whose right answer is known, and storage."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.lexical import (
    CorruptSegment,
    Hit,
    LexicalSegment,
    SegmentFile,
    _line_scores,
)
from chalicelib.domain.models import Chunk
from chalicelib.domain.tokens import term_counts, tokenize


def one_chunk_file(path: str, text: str, language: str = "python") -> SegmentFile:
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    chunk = Chunk(1, lines, "window", None, term_counts(text))
    return SegmentFile(path, f"oid-{path}", language, text, (chunk,))


def windowed_file(path: str, text: str, size: int) -> SegmentFile:
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    chunks = tuple(
        Chunk(
            s + 1,
            min(s + size, len(lines)),
            "window",
            None,
            term_counts("\n".join(lines[s : s + size])),
        )
        for s in range(0, len(lines), size)
    )
    return SegmentFile(path, f"oid-{path}", "text", text, chunks)


CONFIG_SOURCE = (
    "import json\n"
    "\n"
    "\n"
    "def parse_config(text):\n"
    '    """Parse configuration text into a dictionary."""\n'
    "    return json.loads(text)\n"
)
PARSER_SOURCE = (
    "def parse(tokens):\n"
    "    return parse_expression(tokens)\n"
    "\n"
    "def parse_expression(tokens):\n"
    "    return parse_term(tokens)\n"
)
DOCS = "# Settings\n\nThe config file holds the config values.\nEvery config key is optional.\n"
SERVER_SOURCE = "class Server:\n    def handle_request(self, request):\n        return None\n"


@pytest.fixture(scope="module")
def segment() -> LexicalSegment:
    return LexicalSegment.build(
        [
            one_chunk_file("src/parser.py", PARSER_SOURCE),
            one_chunk_file("docs/settings.md", DOCS, "markdown"),
            one_chunk_file("src/settings.py", CONFIG_SOURCE),
            one_chunk_file("src/server.py", SERVER_SOURCE),
            windowed_file("notes/big.txt", "".join(f"line {i}\n" for i in range(1, 101)), 40),
        ]
    )


class TestRanking:
    def test_file_defining_the_function_ranks_first(self, segment: LexicalSegment) -> None:
        hits = segment.search("parse config")
        assert hits[0].path == "src/settings.py"
        assert {h.path for h in hits} >= {"src/parser.py", "docs/settings.md"}

    def test_camel_case_query_finds_snake_case_definition(self, segment: LexicalSegment) -> None:
        assert segment.search("parseConfig")[0].path == "src/settings.py"

    def test_hit_carries_span_language_and_chunk(self, segment: LexicalSegment) -> None:
        [hit] = segment.search("handle_request", k=1)
        assert hit == Hit("src/server.py", 1, 3, hit.score, "python", 3)
        assert hit.score > 0

    def test_hits_in_later_windows_report_their_lines(self, segment: LexicalSegment) -> None:
        [hit] = segment.search("77")
        assert (hit.path, hit.start_line, hit.end_line) == ("notes/big.txt", 41, 80)

    def test_path_terms_find_a_file_by_name(self, segment: LexicalSegment) -> None:
        hits = segment.search("server")
        assert hits[0].path == "src/server.py"
        assert segment.search("notes")[0].path == "notes/big.txt"

    def test_path_terms_go_to_the_first_chunk_only(self, segment: LexicalSegment) -> None:
        assert [h.start_line for h in segment.search("notes big")] == [1]

    def test_unknown_terms_contribute_nothing(self, segment: LexicalSegment) -> None:
        assert segment.search("parse_config zzzunknown") == segment.search("parse_config")

    @pytest.mark.parametrize("query", ["", "   ", "+-*/", "zzzunknown qqqmissing", "x"])
    def test_empty_or_unknown_query_finds_nothing(
        self, segment: LexicalSegment, query: str
    ) -> None:
        assert segment.search(query) == []

    def test_scores_descend(self, segment: LexicalSegment) -> None:
        scores = [h.score for h in segment.search("parse config return tokens")]
        assert scores == sorted(scores, reverse=True)


class TestK:
    @pytest.mark.parametrize("k", [0, -1])
    def test_non_positive_k_finds_nothing(self, segment: LexicalSegment, k: int) -> None:
        assert segment.search("parse", k=k) == []

    def test_k_limits_the_hits(self, segment: LexicalSegment) -> None:
        assert len(segment.search("return", k=2)) == 2
        assert len(segment.search("return", k=1)) == 1

    def test_large_k_returns_every_match(self, segment: LexicalSegment) -> None:
        assert {h.path for h in segment.search("return", k=1000)} == {
            "src/parser.py",
            "src/settings.py",
            "src/server.py",
        }


class TestTies:
    def test_equal_scores_are_ordered_by_chunk_index(self) -> None:
        files = [one_chunk_file(f"f{i}.py", "def same_body():\n    pass\n") for i in range(30)]
        seg = LexicalSegment.build(files)
        hits = seg.search("same_body", k=30)
        assert len({h.score for h in hits}) == 1
        assert [h.chunk for h in hits] == list(range(30))
        assert [h.chunk for h in seg.search("same_body", k=7)] == list(range(7))

    def test_ties_at_the_cut_keep_the_lowest_chunks(self) -> None:
        files = [one_chunk_file("best.py", "needle needle needle\n")]
        files += [one_chunk_file(f"f{i}.py", "needle\n") for i in range(10)]
        seg = LexicalSegment.from_bytes(LexicalSegment.build(files).to_bytes())
        assert [h.path for h in seg.search("needle", k=3)] == ["best.py", "f0.py", "f1.py"]


class TestStorage:
    QUERIES = ("parse config", "parseConfig", "return", "line 42", "handle request", "settings")

    def test_round_trip_gives_identical_results(self, segment: LexicalSegment) -> None:
        loaded = LexicalSegment.from_bytes(segment.to_bytes())
        assert (loaded.num_files, loaded.num_chunks) == (segment.num_files, segment.num_chunks)
        for query in self.QUERIES:
            assert loaded.search(query, k=20) == segment.search(query, k=20)
        assert loaded.file_text("src/settings.py") == CONFIG_SOURCE

    def test_equal_segments_store_equal_bytes(self, segment: LexicalSegment) -> None:
        assert LexicalSegment.from_bytes(segment.to_bytes()).to_bytes() == segment.to_bytes()

    def test_empty_segment_round_trips(self) -> None:
        empty = LexicalSegment.from_bytes(LexicalSegment.build([]).to_bytes())
        assert (empty.num_files, empty.num_chunks) == (0, 0)
        assert empty.search("anything") == []

    def test_large_term_counts_survive(self) -> None:
        seg = LexicalSegment.build([one_chunk_file("a.txt", "word " * 70000)])
        loaded = LexicalSegment.from_bytes(seg.to_bytes())
        assert loaded.search("word") == seg.search("word")

    def test_duplicate_paths_are_refused(self) -> None:
        with pytest.raises(ValueError, match="distinct paths"):
            LexicalSegment.build([one_chunk_file("a.py", "x"), one_chunk_file("a.py", "y")])

    @pytest.mark.parametrize(
        "data", [b"", b"garbage", b"PK\x03\x04" + b"\x00" * 100, bytes(range(256)) * 8]
    )
    def test_garbage_is_refused(self, data: bytes) -> None:
        with pytest.raises(ValueError, match="corrupt lexical segment"):
            LexicalSegment.from_bytes(data)

    def test_truncated_bytes_are_refused(self, segment: LexicalSegment) -> None:
        data = segment.to_bytes()
        with pytest.raises(CorruptSegment):
            LexicalSegment.from_bytes(data[: len(data) // 2])

    @pytest.mark.parametrize(
        ("member", "payload"),
        [
            ("meta.json", b'{"format": "other"}'),
            ("vocab.json", b"[1, 2]"),
            ("files.json", b'{"paths": ["a"], "oids": [], "languages": []}'),
            ("chunks.npy", None),
            ("post_gaps.npy", None),
        ],
    )
    def test_inconsistent_members_are_refused(
        self, segment: LexicalSegment, member: str, payload: bytes | None
    ) -> None:
        if payload is None:  # a valid .npy of the wrong type: object arrays need pickle
            buf = io.BytesIO()
            np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
            payload = buf.getvalue()
        with pytest.raises(CorruptSegment):
            LexicalSegment.from_bytes(replace_member(segment.to_bytes(), member, payload))

    def test_out_of_range_postings_are_refused(self, segment: LexicalSegment) -> None:
        buf = io.BytesIO()
        gaps = np.full(segment_postings(segment), 10**6, dtype=np.int32)
        np.save(buf, gaps, allow_pickle=False)
        data = replace_member(segment.to_bytes(), "post_gaps.npy", buf.getvalue())
        with pytest.raises(CorruptSegment, match="posting chunk ids"):
            LexicalSegment.from_bytes(data)


def replace_member(data: bytes, member: str, payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, payload if info.filename == member else src.read(info))
    return out.getvalue()


def segment_postings(segment: LexicalSegment) -> int:
    with zipfile.ZipFile(io.BytesIO(segment.to_bytes())) as zf:
        return len(np.load(io.BytesIO(zf.read("post_gaps.npy")), allow_pickle=False))


class TestText:
    def test_lines_are_exact(self, segment: LexicalSegment) -> None:
        assert segment.lines("src/settings.py", 4, 4) == "def parse_config(text):"
        assert segment.lines("src/settings.py", 1, 6) == CONFIG_SOURCE.rstrip("\n")
        assert segment.lines("notes/big.txt", 41, 42) == "line 41\nline 42"

    @pytest.mark.parametrize(
        ("path", "start", "end"),
        [
            ("src/settings.py", 0, 1),
            ("src/settings.py", 1, 7),
            ("src/settings.py", 5, 4),
            ("src/settings.py", -1, 2),
            ("missing.py", 1, 1),
        ],
    )
    def test_lines_out_of_range_or_unknown_path_are_none(
        self, segment: LexicalSegment, path: str, start: int, end: int
    ) -> None:
        assert segment.lines(path, start, end) is None

    def test_file_text_and_oid(self, segment: LexicalSegment) -> None:
        assert segment.file_text("docs/settings.md") == DOCS
        assert segment.file_oid("docs/settings.md") == "oid-docs/settings.md"
        assert segment.file_text("nope") is None
        assert segment.file_oid("nope") is None

    def test_snippet_contains_the_matching_line(self, segment: LexicalSegment) -> None:
        [hit] = segment.search("77")
        snippet = segment.snippet(hit, "77", max_lines=5)
        assert snippet.split("\n") == ["line 75", "line 76", "line 77", "line 78", "line 79"]

    def test_snippet_is_at_most_max_lines(self, segment: LexicalSegment) -> None:
        hit = segment.search("parse_config")[0]
        assert "def parse_config(text):" in segment.snippet(hit, "parse_config", max_lines=2)
        assert len(segment.snippet(hit, "parse_config", max_lines=2).split("\n")) == 2
        assert segment.snippet(hit, "parse_config", max_lines=0) == ""

    def test_snippet_without_a_matching_line_starts_the_chunk(
        self, segment: LexicalSegment
    ) -> None:
        [hit] = segment.search("notes", k=1)
        assert segment.snippet(hit, "notes", max_lines=2) == "line 1\nline 2"


@given(
    line=st.text(alphabet=st.sampled_from("aAbBzZ_09 .,(-)éÉßİ\u03a3\u03c3\t"), max_size=40),
    terms=st.lists(st.text(alphabet=st.sampled_from("abz_09éß\u03c3"), min_size=2, max_size=4)),
)
def test_a_line_is_skipped_only_when_no_query_term_can_be_in_it(
    line: str, terms: list[str]
) -> None:
    weights = {t: 1.0 + i for i, t in enumerate(terms)}
    full = sum(weights.get(t, 0.0) for t in set(tokenize(line)))
    assert _line_scores([line], weights) == [full]
