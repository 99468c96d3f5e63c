"""Parsers: classification of bytes, line windows, and parse_blob's artifacts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.lexical import LexicalSegment, SegmentFile
from chalicelib.parsers import PARSER_VERSION, parse_blob
from chalicelib.parsers.classify import classify
from chalicelib.parsers.text import MAX_LINES, chunk_lines, split_lines

LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)


class TestClassify:
    def test_lfs_pointer(self) -> None:
        assert classify(LFS_POINTER) == "lfs"

    def test_nul_byte_early_is_binary(self) -> None:
        assert classify(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == "binary"

    def test_nul_byte_after_the_sniff_window_is_not_binary(self) -> None:
        assert classify(b"a" * 8000 + b"\x00") is None

    def test_invalid_utf8_is_undecodable(self) -> None:
        assert classify("caf\u00e9\n".encode("latin-1")) == "undecodable"

    def test_utf8_text_is_indexable(self) -> None:
        assert classify("def café():\n    return 'ü'\n".encode()) is None
        assert classify(b"") is None


class TestLines:
    def test_trailing_newline_does_not_add_a_line(self) -> None:
        assert split_lines("a\nb\n") == ["a", "b"]
        assert split_lines("a\nb") == ["a", "b"]
        assert split_lines("") == []
        assert split_lines("\n") == [""]

    def test_only_newline_separates_lines(self) -> None:
        assert split_lines("a\r\nb\x0cc\n") == ["a\r", "b\x0cc"]


class TestChunkLines:
    def test_empty_text_has_no_windows(self) -> None:
        assert chunk_lines("") == []

    def test_short_file_is_one_window(self) -> None:
        assert chunk_lines("a\nb\n") == [(1, 2)]
        assert chunk_lines("x\n" * 60) == [(1, 60)]

    def test_cuts_at_forty_lines_without_blank_lines(self) -> None:
        assert chunk_lines("x\n" * 130) == [(1, 40), (41, 80), (81, 130)]

    def test_keeps_a_rest_of_up_to_sixty_lines_in_one_window(self) -> None:
        assert chunk_lines("x\n" * 100) == [(1, 40), (41, 100)]
        assert chunk_lines("x\n" * 101) == [(1, 40), (41, 80), (81, 101)]

    def test_prefers_a_blank_line_near_line_forty(self) -> None:
        lines = ["x"] * 100
        lines[34] = ""  # line 35
        lines[51] = ""  # line 52: further from 40 than line 35
        assert chunk_lines("\n".join(lines))[0] == (1, 35)

    def test_ignores_blank_lines_before_line_thirty(self) -> None:
        lines = ["x"] * 100
        lines[9] = ""
        assert chunk_lines("\n".join(lines))[0] == (1, 40)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.sampled_from(["", "   ", "x = 1", "def f():", "\t"]), max_size=500),
    st.booleans(),
)
def test_windows_cover_every_line_exactly_once(lines: list[str], trailing: bool) -> None:
    text = "\n".join(lines) + ("\n" if trailing and lines else "")
    spans = chunk_lines(text)
    covered = [n for start, end in spans for n in range(start, end + 1)]
    assert covered == list(range(1, len(split_lines(text)) + 1))
    assert all(1 <= end - start + 1 <= MAX_LINES for start, end in spans)


class TestParseBlob:
    SOURCE = b"import os\n\n\ndef parse_config(path):\n    return os.path.join(path)\n"

    def test_python_file(self) -> None:
        artifact = parse_blob("abc123", "src/config_loader.py", self.SOURCE)
        assert artifact.oid == "abc123"
        assert artifact.language == "python"
        assert artifact.parser_version == PARSER_VERSION
        assert artifact.size == len(self.SOURCE)
        assert artifact.line_count == 5
        assert artifact.skipped is None
        assert artifact.text == self.SOURCE.decode()
        [chunk] = artifact.chunks  # the import and the tiny function merge into module code
        assert (chunk.start_line, chunk.end_line, chunk.kind, chunk.symbol) == (
            1,
            5,
            "module",
            None,
        )
        assert chunk.terms["parse_config"] == 1
        assert chunk.terms["path"] == 3
        assert chunk.terms["os"] == 2

    def test_path_terms_are_not_in_the_artifact(self) -> None:
        [chunk] = parse_blob("abc123", "src/config_loader.py", self.SOURCE).chunks
        assert "loader" not in chunk.terms

    def test_chunks_follow_the_windows(self) -> None:
        data = b"line\n" * 130
        chunks = parse_blob("o", "notes.txt", data).chunks
        assert [(c.start_line, c.end_line) for c in chunks] == [(1, 40), (41, 80), (81, 130)]
        assert [c.terms for c in chunks] == [{"line": 40}, {"line": 40}, {"line": 50}]

    def test_binary_blob_is_skipped(self) -> None:
        artifact = parse_blob("o", "logo.png", b"\x89PNG\x00\x00data")
        assert artifact.skipped == "binary"
        assert (artifact.text, artifact.chunks, artifact.line_count) == ("", (), 0)
        assert artifact.size == 10

    def test_lfs_pointer_is_skipped(self) -> None:
        assert parse_blob("o", "big.bin", LFS_POINTER).skipped == "lfs"

    def test_empty_file_has_no_chunks(self) -> None:
        artifact = parse_blob("o", "empty.py", b"")
        assert (artifact.skipped, artifact.line_count, artifact.chunks) == (None, 0, ())


@settings(database=None)  # no example database: unit tests stay off the disk
@given(st.text(alphabet=st.sampled_from("ab \n\r\t"), max_size=300))
def test_segment_lines_number_lines_like_the_chunker(text: str) -> None:
    artifact = parse_blob("o", "f.txt", text.encode())
    segment = LexicalSegment.build([SegmentFile("f.txt", "o", "text", text, artifact.chunks)])
    lines = split_lines(text)
    for start, end in chunk_lines(text):
        assert segment.lines("f.txt", start, end) == "\n".join(lines[start - 1 : end])
    assert segment.lines("f.txt", 1, len(lines) + 1) is None
