"""Configuration files (JSON, YAML, TOML): exact chunks and key symbols of one fixture per
language (tests/fixtures/parsers/), multi-document YAML, comments in JSON, the depth and
symbol caps, the fallbacks to line windows, and the chunk coverage invariant on any text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.models import BlobArtifact, Chunk, Symbol
from chalicelib.parsers import config_files, parse_blob
from chalicelib.parsers.config_files import MAX_KEYS, parse_config
from chalicelib.parsers.layout import window_chunks
from chalicelib.parsers.text import split_lines

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parsers"

LANGUAGES = ("json", "yaml", "toml")


@dataclass(frozen=True)
class Expected:
    language: str
    chunks: list[tuple[int, int, str, str | None]]  # start, end, kind, symbol
    symbols: list[tuple[str, str, int, int, str | None]]  # kind, qualified name, span, container


EXPECTED: dict[str, Expected] = {
    "package.json": Expected(
        language="json",
        chunks=[
            (1, 9, "section", None),  # "{" and the tiny top-level keys, merged
            (10, 19, "section", "exports"),
            (20, 34, "section", "scripts"),  # scripts, dependencies, devDependencies merged
            (35, 44, "section", "vitest"),
            (45, 45, "section", None),
        ],
        symbols=[
            ("key", "name", 2, 2, None),
            ("key", "version", 3, 3, None),
            ("key", "private", 4, 4, None),
            ("key", "type", 5, 5, None),
            ("key", "contributors", 6, 9, None),  # keys inside array elements are not symbols
            ("key", "exports", 10, 19, None),
            ("key", "exports..", 11, 17, "exports"),
            ("key", "exports...import", 12, 15, "exports.."),
            ("key", "exports...import.types", 13, 13, "exports...import"),
            ("key", "exports...import.default", 14, 14, "exports...import"),
            ("key", "exports...require", 16, 16, "exports.."),
            ("key", "exports../styles.css", 18, 18, "exports"),
            ("key", "scripts", 20, 25, None),
            ("key", "scripts.dev", 21, 21, "scripts"),
            ("key", "scripts.build", 22, 22, "scripts"),
            ("key", "scripts.test", 23, 23, "scripts"),
            ("key", "scripts.lint", 24, 24, "scripts"),
            ("key", "dependencies", 26, 29, None),
            ("key", "dependencies.react", 27, 27, "dependencies"),
            ("key", "dependencies.react-dom", 28, 28, "dependencies"),
            ("key", "devDependencies", 30, 34, None),
            ("key", "devDependencies.typescript", 31, 31, "devDependencies"),
            ("key", "devDependencies.vite", 32, 32, "devDependencies"),
            ("key", "devDependencies.vitest", 33, 33, "devDependencies"),
            ("key", "vitest", 35, 44, None),
            ("key", "vitest.environment", 36, 36, "vitest"),
            ("key", "vitest.coverage", 37, 43, "vitest"),
            ("key", "vitest.coverage.provider", 38, 38, "vitest.coverage"),
            ("key", "vitest.coverage.thresholds", 39, 42, "vitest.coverage"),
            ("key", "vitest.coverage.thresholds.lines", 40, 40, "vitest.coverage.thresholds"),
            # level 4; the "lines" inside it (level 5) is too deep
            (
                "key",
                "vitest.coverage.thresholds.src/utils/**.ts",
                41,
                41,
                "vitest.coverage.thresholds",
            ),
        ],
    ),
    "pyproject.toml": Expected(
        language="toml",
        chunks=[
            (1, 4, "section", "build-system"),  # with the comment line above it
            (6, 19, "section", "project"),
            (21, 31, "section", "project.optional-dependencies"),  # ... to [tool.ruff]
            (33, 41, "section", "tool.ruff.lint"),
            (43, 64, "section", "tool.ruff.lint.isort"),  # the tiny tables to the end
        ],
        symbols=[
            ("key", "build-system", 2, 4, None),
            ("key", "build-system.requires", 3, 3, "build-system"),
            ("key", "build-system.build-backend", 4, 4, "build-system"),
            ("key", "project", 6, 19, None),
            ("key", "project.name", 7, 7, "project"),
            ("key", "project.version", 8, 8, "project"),
            ("key", "project.description", 9, 9, "project"),
            ("key", "project.readme", 10, 10, "project"),
            ("key", "project.requires-python", 11, 11, "project"),
            ("key", "project.authors", 12, 14, "project"),
            ("key", "project.dependencies", 15, 19, "project"),
            ("key", "project.optional-dependencies", 21, 23, "project"),
            ("key", "project.optional-dependencies.dev", 22, 22, "project.optional-dependencies"),
            ("key", "project.optional-dependencies.docs", 23, 23, "project.optional-dependencies"),
            ("key", "project.scripts", 25, 26, "project"),
            ("key", "project.scripts.ledger", 26, 26, "project.scripts"),
            ("key", "tool.ruff", 29, 31, "tool"),
            ("key", "tool.ruff.line-length", 30, 30, "tool.ruff"),
            ("key", "tool.ruff.target-version", 31, 31, "tool.ruff"),
            ("key", "tool.ruff.lint", 33, 41, "tool.ruff"),
            ("key", "tool.ruff.lint.select", 34, 39, "tool.ruff.lint"),
            ("key", "tool.ruff.lint.ignore", 40, 40, "tool.ruff.lint"),
            ("key", "tool.ruff.lint.per-file-ignores", 41, 41, "tool.ruff.lint"),
            (
                "key",
                "tool.ruff.lint.per-file-ignores.tests/*",
                41,
                41,
                "tool.ruff.lint.per-file-ignores",
            ),
            (
                "key",
                "tool.ruff.lint.per-file-ignores.scripts/*",
                41,
                41,
                "tool.ruff.lint.per-file-ignores",
            ),
            ("key", "tool.ruff.lint.isort", 43, 44, "tool.ruff.lint"),
            ("key", "tool.ruff.lint.isort.known-first-party", 44, 44, "tool.ruff.lint.isort"),
            ("key", "tool.mypy", 46, 48, "tool"),
            ("key", "tool.mypy.strict", 47, 47, "tool.mypy"),
            ("key", "tool.mypy.plugins", 48, 48, "tool.mypy"),
            ("key", "tool.mypy.overrides", 50, 52, "tool.mypy"),  # one per [[...]] element
            ("key", "tool.mypy.overrides", 54, 56, "tool.mypy"),
            ("key", "tool.pytest.ini_options", 58, 61, "tool.pytest"),
            ("key", "tool.pytest.ini_options.addopts", 59, 59, "tool.pytest.ini_options"),
            ("key", "tool.pytest.ini_options.testpaths", 60, 60, "tool.pytest.ini_options"),
            (
                "key",
                "tool.pytest.ini_options.markers.slow",
                61,
                61,
                "tool.pytest.ini_options.markers",
            ),
            ("key", "tool.hatch.envs.default.scripts", 63, 64, "tool.hatch.envs.default"),
            (
                "key",
                "tool.hatch.envs.default.scripts.test",
                64,
                64,
                "tool.hatch.envs.default.scripts",
            ),
        ],
    ),
    "ci.yml": Expected(
        language="yaml",
        chunks=[
            (1, 21, "section", "name"),  # the comment, then the tiny top-level keys merged
            (23, 23, "section", "jobs"),  # jobs (131 lines) is split at its jobs
            (24, 38, "section", "jobs.lint"),
            (40, 95, "section", "jobs.test"),  # with the comment line above it
            (97, 111, "section", "jobs.docs"),
            (113, 129, "section", "jobs.benchmarks"),
            (131, 153, "section", "jobs.release"),
        ],
        symbols=[
            ("key", "name", 3, 3, None),
            ("key", "on", 5, 10, None),
            ("key", "on.push", 6, 8, "on"),
            ("key", "on.push.branches", 7, 7, "on.push"),
            ("key", "on.push.tags", 8, 8, "on.push"),
            ("key", "on.pull_request", 9, 9, "on"),
            ("key", "on.workflow_dispatch", 10, 10, "on"),
            ("key", "permissions", 12, 13, None),
            ("key", "permissions.contents", 13, 13, "permissions"),
            ("key", "concurrency", 15, 17, None),
            ("key", "concurrency.group", 16, 16, "concurrency"),
            ("key", "concurrency.cancel-in-progress", 17, 17, "concurrency"),
            ("key", "env", 19, 21, None),
            ("key", "env.PIP_DISABLE_PIP_VERSION_CHECK", 20, 20, "env"),
            ("key", "env.FORCE_COLOR", 21, 21, "env"),
            ("key", "jobs", 23, 153, None),
            ("key", "jobs.lint", 24, 38, "jobs"),
            ("key", "jobs.lint.runs-on", 25, 25, "jobs.lint"),
            ("key", "jobs.lint.steps", 26, 38, "jobs.lint"),
            ("key", "jobs.test", 41, 95, "jobs"),
            ("key", "jobs.test.needs", 42, 42, "jobs.test"),
            ("key", "jobs.test.runs-on", 43, 43, "jobs.test"),
            ("key", "jobs.test.timeout-minutes", 44, 44, "jobs.test"),
            ("key", "jobs.test.strategy", 45, 53, "jobs.test"),
            ("key", "jobs.test.strategy.fail-fast", 46, 46, "jobs.test.strategy"),
            ("key", "jobs.test.strategy.matrix", 47, 53, "jobs.test.strategy"),
            ("key", "jobs.test.services", 54, 65, "jobs.test"),
            ("key", "jobs.test.services.postgres", 55, 65, "jobs.test.services"),
            ("key", "jobs.test.steps", 66, 95, "jobs.test"),
            ("key", "jobs.docs", 97, 111, "jobs"),
            ("key", "jobs.docs.needs", 98, 98, "jobs.docs"),
            ("key", "jobs.docs.runs-on", 99, 99, "jobs.docs"),
            ("key", "jobs.docs.steps", 100, 111, "jobs.docs"),
            ("key", "jobs.benchmarks", 113, 129, "jobs"),
            ("key", "jobs.benchmarks.needs", 114, 114, "jobs.benchmarks"),
            ("key", "jobs.benchmarks.if", 115, 115, "jobs.benchmarks"),
            ("key", "jobs.benchmarks.runs-on", 116, 116, "jobs.benchmarks"),
            ("key", "jobs.benchmarks.steps", 117, 129, "jobs.benchmarks"),
            ("key", "jobs.release", 131, 153, "jobs"),
            ("key", "jobs.release.if", 132, 132, "jobs.release"),
            ("key", "jobs.release.needs", 133, 133, "jobs.release"),
            ("key", "jobs.release.runs-on", 134, 134, "jobs.release"),
            ("key", "jobs.release.environment", 135, 135, "jobs.release"),
            ("key", "jobs.release.permissions", 136, 138, "jobs.release"),
            ("key", "jobs.release.permissions.id-token", 137, 137, "jobs.release.permissions"),
            ("key", "jobs.release.permissions.contents", 138, 138, "jobs.release.permissions"),
            ("key", "jobs.release.steps", 139, 153, "jobs.release"),
        ],
    ),
}


def parse_fixture(name: str) -> tuple[str, BlobArtifact]:
    data = (FIXTURES / name).read_bytes()
    return data.decode(), parse_blob("oid", name, data)


def spans(chunks: Sequence[Chunk]) -> list[tuple[int, int, str, str | None]]:
    return [(c.start_line, c.end_line, c.kind, c.symbol) for c in chunks]


def rows(symbols: Sequence[Symbol]) -> list[tuple[str, str, int, int, str | None]]:
    return [(s.kind, s.qualified_name, s.start_line, s.end_line, s.container) for s in symbols]


def assert_covers(text: str, chunks: Sequence[Chunk]) -> None:
    """Every non-blank line in exactly one chunk, chunks in order and never overlapping."""
    lines = split_lines(text)
    covered: list[int] = []
    for chunk in chunks:
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines), chunk
        assert chunk.kind in {"section", "window"}
        covered.extend(range(chunk.start_line, chunk.end_line + 1))
    assert covered == sorted(set(covered)), "chunks overlap or are out of order"
    assert set(covered) >= {n for n, line in enumerate(lines, start=1) if line.strip()}


class TestFixtures:
    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_chunks(self, name: str) -> None:
        _, artifact = parse_fixture(name)
        assert spans(artifact.chunks) == EXPECTED[name].chunks

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_symbols(self, name: str) -> None:
        _, artifact = parse_fixture(name)
        assert rows(artifact.symbols) == EXPECTED[name].symbols

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_parse_blob_uses_the_config_chunker(self, name: str) -> None:
        text, artifact = parse_fixture(name)
        assert artifact.language == EXPECTED[name].language
        assert artifact.references == ()
        assert_covers(text, artifact.chunks)
        chunks = parse_config(EXPECTED[name].language, text)[0]
        assert chunks == artifact.chunks

    def test_chunk_terms_are_the_terms_of_its_lines(self) -> None:
        _, artifact = parse_fixture("pyproject.toml")
        ruff = next(c for c in artifact.chunks if c.symbol == "tool.ruff.lint")
        assert ruff.terms["select"] == 1
        assert "ledger" not in ruff.terms


class TestYaml:
    MULTI = (
        "apiVersion: v1\n"  # 1
        "kind: ConfigMap\n"  # 2
        "metadata:\n"  # 3
        "  name: web-config\n"  # 4
        "data:\n"  # 5
        "  LOG_LEVEL: info\n"  # 6
        "---\n"  # 7
        "# The deployment.\n"  # 8
        "apiVersion: apps/v1\n"  # 9
        "kind: Deployment\n"  # 10
        "metadata:\n"  # 11
        "  name: web\n"  # 12
        "  labels: &labels\n"  # 13
        "    app: web\n"  # 14
        "  <<: *labels\n"  # 15
        "...\n"  # 16
    )

    def test_multi_document_stream(self) -> None:
        chunks, symbols, references = parse_config("yaml", self.MULTI)
        assert rows(symbols) == [
            ("key", "apiVersion", 1, 1, None),
            ("key", "kind", 2, 2, None),
            ("key", "metadata", 3, 4, None),
            ("key", "metadata.name", 4, 4, "metadata"),
            ("key", "data", 5, 6, None),
            ("key", "data.LOG_LEVEL", 6, 6, "data"),
            ("key", "apiVersion", 9, 9, None),  # every document's keys, one namespace
            ("key", "kind", 10, 10, None),
            ("key", "metadata", 11, 15, None),
            ("key", "metadata.name", 12, 12, "metadata"),
            ("key", "metadata.labels", 13, 14, "metadata"),  # an anchor does not hide it
            ("key", "metadata.labels.app", 14, 14, "metadata.labels"),
        ]  # the merge key "<<" is not a symbol
        assert spans(chunks) == [(1, 16, "section", None)]  # tiny keys and "---" merged
        assert references == ()

    def test_long_documents_are_sections(self) -> None:
        body = "".join(f"  key{i}: {i}\n" for i in range(130))
        text = f"first:\n{body}---\nsecond:\n{body}"
        chunks, symbols, _ = parse_config("yaml", text)
        top = [(s.qualified_name, s.start_line, s.end_line) for s in symbols if not s.container]
        assert top == [("first", 1, 131), ("second", 133, 263)]
        assert len(symbols) == 2 + 2 * 130
        assert (132, 132, "section", None) in spans(chunks)  # the "---" line
        assert spans(chunks)[:2] == [
            (1, 40, "section", "first"),  # the key's line and its first keys
            (41, 80, "section", "first.key39"),
        ]
        assert (133, 172, "section", "second") in spans(chunks)
        assert_covers(text, chunks)

    def test_flow_mappings_and_quoted_keys(self) -> None:
        text = '\'single\': {a: 1, "b c": [x, {d: 2}]}\n"double": 2\n'
        _, symbols, _ = parse_config("yaml", text)
        assert rows(symbols) == [
            ("key", "single", 1, 1, None),
            ("key", "single.a", 1, 1, "single"),
            ("key", "single.b c", 1, 1, "single"),
            ("key", "double", 2, 2, None),
        ]

    def test_a_top_level_list_has_windows(self) -> None:
        text = "- name: one\n  run: a\n- name: two\n  run: b\n"
        assert parse_config("yaml", text) == (window_chunks(split_lines(text)), (), ())


class TestJson:
    def test_comments_and_trailing_commas(self) -> None:
        text = (
            "// TypeScript settings for the app.\n"  # 1
            "{\n"  # 2
            "  /* Compiler */\n"  # 3
            '  "compilerOptions": {\n'  # 4
            '    "target": "ES2022",\n'  # 5
            "    // Path aliases\n"  # 6
            '    "paths": { "@/*": ["./src/*"] },\n'  # 7
            "  },\n"  # 8
            '  "include": ["src"]\n'  # 9
            "}\n"  # 10
        )
        chunks, symbols, _ = parse_config("json", text)
        assert rows(symbols) == [
            ("key", "compilerOptions", 4, 8, None),
            ("key", "compilerOptions.target", 5, 5, "compilerOptions"),
            ("key", "compilerOptions.paths", 7, 7, "compilerOptions"),
            ("key", "compilerOptions.paths.@/*", 7, 7, "compilerOptions.paths"),
            ("key", "include", 9, 9, None),
        ]
        assert spans(chunks) == [(1, 10, "section", None)]

    def test_long_section_is_split_at_its_keys(self) -> None:
        entries = ",\n".join(
            f'    "pkg{i}": {{\n      "version": "1.0.{i}",\n      "dev": false\n    }}'
            for i in range(40)
        )
        text = f'{{\n  "name": "app",\n  "packages": {{\n{entries}\n  }}\n}}\n'
        chunks, symbols, _ = parse_config("json", text)
        assert spans(chunks)[:3] == [
            (1, 2, "section", None),  # "{" and "name"
            (3, 39, "section", "packages"),  # its own line and the first nine entries
            (40, 79, "section", "packages.pkg9"),  # ten 4-line entries merged (40 lines)
        ]
        assert [s.qualified_name for s in symbols[:5]] == [
            "name",
            "packages",
            "packages.pkg0",
            "packages.pkg0.version",
            "packages.pkg0.dev",
        ]
        assert_covers(text, chunks)

    def test_symbol_cap_keeps_shallow_keys_first(self) -> None:
        # 600 top-level keys with 5 keys each: 3,600 keys, over the cap.
        data = {f"k{i}": {f"c{j}": j for j in range(5)} for i in range(600)}
        text = json.dumps(data, indent=2) + "\n"
        chunks, symbols, _ = parse_config("json", text)
        assert len(symbols) == MAX_KEYS
        assert [s.qualified_name for s in symbols if s.container is None] == list(data)
        nested = [s.qualified_name for s in symbols if s.container is not None]
        assert nested == [f"k{i}.c{j}" for i in range(280) for j in range(5)]  # the first ones
        assert_covers(text, chunks)

    def test_huge_flat_file_is_bounded(self) -> None:
        lock = {
            "name": "app",
            "packages": {
                f"node_modules/p{i}": {"version": f"1.{i}.0", "dependencies": {"a": "1"}}
                for i in range(1_000)
            },
        }
        text = json.dumps(lock, indent=2) + "\n"
        assert len(split_lines(text)) > 5_000
        chunks, symbols, _ = parse_config("json", text)
        assert len(symbols) == MAX_KEYS
        assert max(c.end_line - c.start_line + 1 for c in chunks) <= 120
        assert_covers(text, chunks)


class TestFallbacks:
    @pytest.mark.parametrize(
        ("language", "text"),
        [
            ("json", '{{{{ ]]]] ::: ,,,\n"x" "y" "z"\n'),
            ("json", "not json at all\nreally not\n"),
            ("yaml", "a: [1, 2\nb: {c\n"),
            ("toml", "= = =\n[[[]]]\n"),
            ("toml", "[a\nb = \n"),
        ],
    )
    def test_broken_file_gets_windows(self, language: str, text: str) -> None:
        assert parse_config(language, text) == (window_chunks(split_lines(text)), (), ())

    @pytest.mark.parametrize("language", LANGUAGES)
    def test_empty_and_blank_files(self, language: str) -> None:
        assert parse_config(language, "") == ((), (), ())
        assert parse_config(language, "\n  \n") == (window_chunks(["", "  "]), (), ())

    def test_a_parser_failure_gets_windows(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def boom(*args: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(config_files, "_analyze", boom)
        text = "a = 1\n"
        assert parse_config("toml", text) == (window_chunks(split_lines(text)), (), ())

    def test_a_partly_broken_file_keeps_what_parsed(self) -> None:
        text = "[tool.a]\nx = 1\n\n[tool.b]\ny = \n"
        chunks, symbols, _ = parse_config("toml", text)
        assert [s.qualified_name for s in symbols][:2] == ["tool.a", "tool.a.x"]
        assert_covers(text, chunks)


CONFIG_LINES = [
    "", "  ", "{", "}", "[", "]", "},", "a: 1", "  b: 2", "    - c: 3", "- d", "---", "...",
    "# note", "// note", '"k": {', '"k": [1,', '  "v": 2,', "[t]", "[[t.u]]", "x = 1",
    "y.z = { p = 2 }", 'q = """', "s: |", "  text: no", "\t", "? k", ": v", "&a x: *a",
]  # fmt: skip


@settings(max_examples=150, deadline=None, database=None)
@given(st.sampled_from(LANGUAGES), st.lists(st.sampled_from(CONFIG_LINES), max_size=80))
def test_config_like_text_is_covered(language: str, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    chunks, symbols, _ = parse_config(language, text)
    assert_covers(text, chunks)
    for s in symbols:
        assert 1 <= s.start_line <= s.end_line <= len(split_lines(text))
        assert s.kind == "key"


@settings(max_examples=150, deadline=None, database=None)
@given(st.sampled_from(LANGUAGES), st.text(max_size=400))
def test_any_text_never_raises_and_is_covered(language: str, text: str) -> None:
    chunks, _, _ = parse_config(language, text)
    assert_covers(text, chunks)
