"""The `syntax` check level: exact positions per language, Lean structure, hostile input.

Positions are (line, column, end_line, end_column): 1-based, columns in characters, end
exclusive (`chalicelib.domain.diagnostics`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.domain.diagnostics import (
    MAX_DIAGNOSTICS_PER_FILE,
    Diagnostic,
    TextPositions,
    sorted_and_capped,
)
from chalicelib.parsers.syntax import MAX_CHECK_BYTES, syntax_checkable, syntax_diagnostics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SYNTAX = FIXTURES / "syntax"

Span = tuple[int, int, int, int]


def check(name: str) -> list[Diagnostic]:
    """Check fixture `name`. Broken Python is stored as `name.txt` so that linters of the
    repository do not trip on it; the check still sees the `.py` path."""
    stored = SYNTAX / name
    if not stored.exists():
        stored = SYNTAX / f"{name}.txt"
    return syntax_diagnostics(name, stored.read_bytes())


def span(diagnostic: Diagnostic) -> Span:
    d = diagnostic
    return (d.line, d.column, d.end_line, d.end_column)


# (fixture, [(span, severity, words the message holds, tool)]) — one row per language.
KNOWN_ERRORS: list[tuple[str, list[tuple[Span, str, str, str]]]] = [
    ("broken_def.py", [((5, 11, 5, 12), "error", "'(' was never closed", "python")]),
    ("unclosed_list.py", [((1, 9, 1, 10), "error", "'[' was never closed", "python")]),
    ("missing_colon.py", [((5, 12, 5, 12), "error", "expected ':'", "python")]),
    ("broken_expression.js", [((4, 23, 4, 24), "error", "unexpected `*`", "tree-sitter")]),
    ("unclosed_object.ts", [((6, 35, 6, 35), "error", "missing `}`", "tree-sitter")]),
    ("broken_jsx.tsx", [((3, 32, 3, 32), "error", "missing identifier", "tree-sitter")]),
    ("unclosed_call.go", [((4, 16, 5, 14), "error", "unexpected `(items, x`", "tree-sitter")]),
    ("missing_expression.rs", [((3, 11, 3, 12), "error", "unexpected `=`", "tree-sitter")]),
    ("MissingSemicolon.java", [((5, 21, 5, 21), "error", "missing `;`", "tree-sitter")]),
    ("missing_semicolon.c", [((4, 13, 4, 14), "error", "unexpected `1`", "tree-sitter")]),
    ("missing_semicolon.cpp", [((6, 11, 6, 11), "error", "missing `;`", "tree-sitter")]),
    ("header_cpp.h", [((6, 23, 6, 23), "error", "missing `;`", "tree-sitter")]),
]


@pytest.mark.parametrize(("name", "expected"), KNOWN_ERRORS, ids=[k[0] for k in KNOWN_ERRORS])
def test_reports_known_errors_at_exact_positions(
    name: str, expected: list[tuple[Span, str, str, str]]
) -> None:
    found = check(name)
    assert [(span(d), d.severity, d.tool) for d in found] == [(s, v, t) for s, v, _, t in expected]
    for diagnostic, (_, _, words, _) in zip(found, expected, strict=True):
        assert words in diagnostic.message
        assert diagnostic.path == name


LEAN_ERRORS: list[tuple[str, list[tuple[Span, str, str]]]] = [
    ("unterminated_comment.lean", [((4, 1, 4, 3), "error", "unterminated comment")]),
    ("unterminated_string.lean", [((3, 24, 3, 25), "error", "unterminated string")]),
    (
        "brackets.lean",
        [
            ((1, 31, 1, 32), "error", "mismatched `)`: expected `]` for `[` at line 1, column 29"),
            ((3, 21, 3, 22), "error", "unmatched `)`"),
            ((5, 39, 5, 40), "error", "unclosed `(`"),
        ],
    ),
    (
        "scopes.lean",
        [
            ((5, 1, 5, 12), "error", "`end Algebra` does not match"),
            ((7, 1, 7, 10), "error", "`end Stray` without a matching `namespace Stray`"),
            ((13, 1, 13, 21), "warning", "`namespace Left.Right` is not closed"),
            ((15, 1, 15, 10), "error", "`end Right` does not match the innermost open scope"),
        ],
    ),
    (
        "missing_body.lean",
        [
            ((1, 1, 1, 17), "error", "`theorem no_proof` has no body"),
            ((5, 1, 5, 9), "error", "`def bare` has no body"),
            ((14, 1, 14, 8), "error", "`example` has no body"),
        ],
    ),
]


@pytest.mark.parametrize(("name", "expected"), LEAN_ERRORS, ids=[k[0] for k in LEAN_ERRORS])
def test_reports_lean_structural_errors_at_exact_positions(
    name: str, expected: list[tuple[Span, str, str]]
) -> None:
    found = check(name)
    assert [(span(d), d.severity) for d in found] == [(s, v) for s, v, _ in expected]
    for diagnostic, (_, _, words) in zip(found, expected, strict=True):
        assert words in diagnostic.message
        assert diagnostic.tool == "lean-structure"


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "parsers" / "inventory.py",
        FIXTURES / "parsers" / "router.js",
        FIXTURES / "parsers" / "cache.ts",
        FIXTURES / "parsers" / "Counter.tsx",
        FIXTURES / "parsers" / "queue.go",
        FIXTURES / "parsers" / "shapes.rs",
        FIXTURES / "parsers" / "OrderService.java",
        FIXTURES / "parsers" / "ringbuf.c",
        FIXTURES / "parsers" / "matrix.cpp",
        FIXTURES / "lean" / "Fixture" / "Basic.lean",
        FIXTURES / "lean" / "Fixture" / "Algebra" / "Group.lean",
        SYNTAX / "clean.lean",
    ],
    ids=lambda p: p.name,
)
def test_clean_files_have_no_diagnostics(path: Path) -> None:
    assert syntax_diagnostics(path.name, path.read_bytes()) == []


def test_text_and_markdown_are_not_checkable_and_give_nothing() -> None:
    assert not syntax_checkable("README.md")
    assert not syntax_checkable("notes.txt")
    assert not syntax_checkable("config.json")
    assert syntax_diagnostics("README.md", b"# title\n(((\n") == []
    assert syntax_checkable("src/main.rs") and syntax_checkable("Main.lean")
    assert syntax_checkable("lakefile.lean")


def test_columns_count_characters_not_bytes() -> None:
    found = syntax_diagnostics("a.js", "const s = 'été'; let x = ;\n".encode())
    assert [span(d) for d in found] == [(1, 24, 1, 25)]  # the `=` after `let x`


def test_python_columns_count_characters_not_bytes() -> None:
    found = syntax_diagnostics("a.py", "x = 'é' + )\n".encode())
    assert [(span(d), d.tool) for d in found] == [((1, 11, 1, 12), "python")]


def test_python_keeps_compile_error_and_tree_sitter_errors_on_other_lines() -> None:
    data = b"def f(:\n    pass\n\n\nx = 1 +* 2\n"
    found = syntax_diagnostics("a.py", data)
    assert [(d.line, d.tool) for d in found] == [(1, "python"), (5, "tree-sitter")]


def test_lean_bare_end_does_not_close_a_namespace() -> None:
    found = syntax_diagnostics("A.lean", b"namespace A\nend\n")
    assert [(span(d), d.severity) for d in found] == [((2, 1, 2, 4), "error")]
    assert "`end` does not match the innermost open scope `namespace A`" in found[0].message


def test_lean_dotted_namespace_closes_with_its_components() -> None:
    assert syntax_diagnostics("A.lean", b"namespace A.B\nend B\nend A\n") == []
    assert syntax_diagnostics("A.lean", b"namespace A.B\nend A.B\n") == []


def test_lean_double_braces_count_as_two_braces() -> None:
    assert syntax_diagnostics("A.lean", b"def s : Nat := f { a := { b := 1 }}\n") == []
    found = syntax_diagnostics("A.lean", b"def s : Nat := {{1}\n")
    assert [(span(d), d.message[:10]) for d in found] == [((1, 16, 1, 17), "unclosed `")]


def test_invalid_utf8_keeps_positions_of_valid_parts() -> None:
    found = syntax_diagnostics("a.go", b"package m\n// \xff\xfe\nvar x = \xc3\xa9 +\n")
    assert [(d.line, d.tool) for d in found] == [(3, "tree-sitter")]
    lean = syntax_diagnostics("A.lean", b"-- \xff\xfe\ndef x : Nat := (\xc3\xa9\n")
    assert [span(d) for d in lean] == [(2, 16, 2, 17)]


def test_nul_bytes_are_reported_not_raised() -> None:
    found = syntax_diagnostics("a.py", b"x = 1\ny = 2\x00\n")
    assert ((2, 6, 2, 7), "python") in [(span(d), d.tool) for d in found]
    assert syntax_diagnostics("a.c", b"int x;\x00\n")
    assert syntax_diagnostics("A.lean", b"def x : Nat := \x00\n") == []


def test_huge_line_is_checked_with_exact_column() -> None:
    data = b"x = [" + b"1, " * 200_000 + b"\n"
    found = syntax_diagnostics("a.py", data)
    assert [(span(d), d.tool) for d in found] == [((1, 5, 1, 6), "python")]


def test_deep_nesting_does_not_raise() -> None:
    depth = 50_000
    found = syntax_diagnostics("a.py", b"x = " + b"(" * depth + b"\n")
    assert found and found[0].line == 1
    lean = syntax_diagnostics("A.lean", b"def x := " + b"(" * depth + b"\n")
    assert len(lean) == MAX_DIAGNOSTICS_PER_FILE + 1
    js = syntax_diagnostics("a.js", b"x = " + b"[" * depth + b"\n")
    assert js and js[0].tool == "tree-sitter"


def test_caps_diagnostics_per_file_with_a_final_summary() -> None:
    data = b"".join(b"def f%d := )\n" % i for i in range(150))
    found = syntax_diagnostics("A.lean", data)
    assert len(found) == MAX_DIAGNOSTICS_PER_FILE + 1
    summary = found[-1]
    assert (summary.severity, summary.tool) == ("warning", "strata")
    assert "50 more not shown" in summary.message
    assert (summary.line, summary.column) == (101, 13)  # the `)` of `def f100 := )`


def test_file_over_the_size_limit_gets_one_warning() -> None:
    found = syntax_diagnostics("a.py", b"#" * (MAX_CHECK_BYTES + 1))
    assert [(d.severity, d.tool) for d in found] == [("warning", "strata")]
    assert "too large" in found[0].message


def test_hostile_inputs_never_raise() -> None:
    inputs = [b"(" * 20_000, b"\xff" * 50_000, b"\x00" * 20_000, b'"' * 5_000, b"/-" * 2_000]
    for data in inputs:
        for path in ("a.py", "a.cpp", "a.ts", "a.rs", "A.lean"):
            found = syntax_diagnostics(path, data, parse_budget_seconds=0.1)
            assert len(found) <= MAX_DIAGNOSTICS_PER_FILE + 1


def test_parse_outrunning_its_budget_gives_up_with_a_warning() -> None:
    found = syntax_diagnostics("a.py", b"/-" * 5_000, parse_budget_seconds=0.05)
    gave_up = [d for d in found if d.tool == "tree-sitter"]
    assert [(span(d), d.severity) for d in gave_up] == [((1, 1, 1, 1), "warning")]
    assert "gave up" in gave_up[0].message
    assert sorted(d.tool for d in found) == ["python", "tree-sitter"]  # compile's is kept


def test_text_positions_convert_byte_offsets_to_character_columns() -> None:
    data = "ab\nçd\xe9\n".encode()
    positions = TextPositions(data)
    assert positions.position(0) == (1, 1)
    assert positions.position(3) == (2, 1)
    assert positions.position(5) == (2, 2)  # after the two bytes of `ç`
    assert positions.position(len(data)) == (3, 1)
    assert positions.row_position(1, 3) == (2, 3)


def test_sorted_and_capped_orders_by_position() -> None:
    late = Diagnostic("f", 3, 1, 3, 2, "error", "b", "t")
    early = Diagnostic("f", 1, 5, 1, 6, "error", "a", "t")
    assert sorted_and_capped([late, early, early]) == [early, late]


def test_lean_anonymous_section_open_at_end_of_file_is_an_idiom() -> None:
    assert syntax_diagnostics("A.lean", b"noncomputable section\n\ndef x : Nat := 1\n") == []
    found = syntax_diagnostics("A.lean", b"@[expose] public section Named\n")
    assert [(span(d), d.severity) for d in found] == [((1, 18, 1, 31), "warning")]


def test_reports_only_the_outermost_error_node() -> None:
    found = syntax_diagnostics("a.js", b"function f( { let x = ; }\n")  # an ERROR inside an ERROR
    assert [(span(d), d.message) for d in found] == [
        ((1, 1, 1, 26), "syntax error: unexpected `function f( { let x = ; }`")
    ]
