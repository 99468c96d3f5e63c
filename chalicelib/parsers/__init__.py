"""Parsers: a blob's bytes in, a `BlobArtifact` out. Pure; `parse_blob` is the one entry point.

`parse_blob` classifies the bytes (LFS pointer, binary, undecodable -> skipped, no chunks),
decodes UTF-8 and hands the text to the chunker registered for the path's language, falling
back to line windows (`text.chunk_lines`). A chunker returns the file's chunks, symbols and
references: tree-sitter for code (`treesitter`, languages in `ts_languages`), headings for
Markdown (`markdown`), key paths for JSON, YAML and TOML (`config_files`); languages without one
get line windows and no symbols.

Chunk terms come from the chunk's text only. The path's terms are deliberately not added here:
an artifact is stored by blob oid and shared by every path holding the same bytes (renames,
copies, forks), so path terms are added per path when a segment is built
(`LexicalSegment.build`).
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.domain.languages import language_for
from chalicelib.domain.models import BlobArtifact, Chunk, Reference, Symbol
from chalicelib.domain.tokens import term_counts
from chalicelib.parsers.classify import classify
from chalicelib.parsers.config_files import parse_json, parse_toml, parse_yaml
from chalicelib.parsers.lean import chunk_lean
from chalicelib.parsers.markdown import parse_markdown
from chalicelib.parsers.text import count_lines, split_lines, window_spans
from chalicelib.parsers.treesitter import LANGUAGES as TREE_SITTER_LANGUAGES
from chalicelib.parsers.treesitter import chunker as tree_sitter_chunker

PARSER_VERSION = "ts-2"

Parsed = tuple[tuple[Chunk, ...], tuple[Symbol, ...], tuple[Reference, ...]]
Chunker = Callable[[str], Parsed]


def chunk_windows(text: str) -> tuple[Chunk, ...]:
    """One "window" chunk per line window of `text`, with the terms of its lines."""
    lines = split_lines(text)
    return tuple(
        Chunk(
            start_line=start,
            end_line=end,
            kind="window",
            symbol=None,
            terms=term_counts("\n".join(lines[start - 1 : end])),
        )
        for start, end in window_spans(lines)
    )


def parse_windows(text: str) -> Parsed:
    """Line windows and nothing else: the chunker of languages without a parser."""
    return chunk_windows(text), (), ()


# Language -> chunker; languages without an entry get line windows.
_CHUNKERS: dict[str, Chunker] = {
    **{language: tree_sitter_chunker(language) for language in TREE_SITTER_LANGUAGES},
    "markdown": parse_markdown,
    "lean": chunk_lean,
    "json": parse_json,
    "yaml": parse_yaml,
    "toml": parse_toml,
}


def parse_blob(oid: str, path: str, data: bytes) -> BlobArtifact:
    """Everything this parser version derives from one blob's bytes, found at `path`."""
    language = language_for(path)
    skipped = classify(data)
    chunks: tuple[Chunk, ...]
    symbols: tuple[Symbol, ...] = ()
    references: tuple[Reference, ...] = ()
    if skipped is not None:
        text, line_count, chunks = "", 0, ()
    else:
        text = data.decode("utf-8")
        line_count = count_lines(text)
        chunks, symbols, references = _CHUNKERS.get(language, parse_windows)(text)
    return BlobArtifact(
        oid=oid,
        language=language,
        parser_version=PARSER_VERSION,
        size=len(data),
        line_count=line_count,
        skipped=skipped,
        text=text,
        chunks=chunks,
        symbols=symbols,
        references=references,
    )
