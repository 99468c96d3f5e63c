"""Checks, pure: hostile paths, build units and their closures, outcomes, tool output
parsing at exact positions, and Lean declarations' checked status."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.build_units import (
    CODE_LANGUAGES,
    SPEC_BY_TOOL,
    plan_build,
    project_root,
)
from chalicelib.domain.check_codecs import (
    CheckReport,
    decode_bundle,
    decode_plan,
    decode_report,
    encode_bundle,
    encode_plan,
    encode_report,
)
from chalicelib.domain.check_plan import (
    PlanInputs,
    UnitResult,
    bundle_key,
    plan_check,
    select_files,
    with_paths,
)
from chalicelib.domain.checks import (
    MAX_CHECK_PATHS,
    CheckStatus,
    is_check_id,
    new_check_id,
    outcome,
    validate_check_paths,
    validate_sha,
)
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.graph import CodeGraph, GraphFile
from chalicelib.domain.models import Reference, Symbol, TreeEntry
from chalicelib.domain.planning import MODE_SYMLINK, PlannedFile
from chalicelib.domain.proof_status import checked_files, declaration_statuses
from chalicelib.domain.tool_output import (
    OUTSIDE,
    ToolRun,
    cargo_diagnostics,
    gcc_diagnostics,
    lake_diagnostics,
    tool_diagnostics,
    tsc_diagnostics,
)
from chalicelib.errors import InvalidRequest
from chalicelib.parsers.syntax import syntax_checkable
from chalicelib.parsers.ts_languages import SPECS

# --- requests ------------------------------------------------------------------------------

HOSTILE = [
    ("../x", "'..'"),
    ("a/../../etc/passwd", "'..'"),
    ("/etc/passwd", "relative"),
    (".git/config", ".git"),
    ("src/.GIT/hooks/pre-commit", ".git"),
    ("a//b", "empty"),
    ("./a", "'.'"),
    ("a\\b", "backslashes"),
    ("a\x00b", "control"),
    ("C:/Windows", "relative"),
    ("x" * 1025, "at most"),
    ("", "non-empty"),
]


@pytest.mark.parametrize(("path", "words"), HOSTILE)
def test_refuses_paths_that_could_leave_the_tree(path: str, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        validate_check_paths([path])


def test_keeps_files_and_directories_once_without_a_trailing_slash() -> None:
    assert validate_check_paths(["src/", "src", "a.py"]) == ("src", "a.py")
    assert validate_check_paths(None) == ()


def test_refuses_too_many_paths_and_non_lists() -> None:
    with pytest.raises(InvalidRequest, match=f"at most {MAX_CHECK_PATHS}"):
        validate_check_paths([f"f{i}.py" for i in range(MAX_CHECK_PATHS + 1)])
    with pytest.raises(InvalidRequest, match="list"):
        validate_check_paths("a.py")
    with pytest.raises(InvalidRequest, match="non-empty string"):
        validate_check_paths([3])


def test_check_ids_sort_by_time_and_shas_are_full() -> None:
    early, late = new_check_id(1_700_000_000.0, "0a0a0a0a"), new_check_id(1_700_000_001.0)
    assert is_check_id(early) and is_check_id(late) and early < late
    assert not is_check_id("../chk") and not is_check_id("chk-1-x")
    with pytest.raises(InvalidRequest, match="40 lowercase hex"):
        validate_sha("abc123")


def test_outcome_never_passes_what_it_could_not_decide() -> None:
    assert outcome({"errors": 0}, []) == (CheckStatus.PASSED, None)
    assert outcome({"errors": 2}, []) == (CheckStatus.FAILED, None)
    status, message = outcome({"errors": 0, "undecided": 1}, [])
    assert status is CheckStatus.ERROR and "could not be decided" in str(message)
    status, message = outcome({"errors": 3}, ["no build toolchain here for go (1 file)"])
    assert (status, message) == (CheckStatus.ERROR, "no build toolchain here for go (1 file)")


# --- selecting files and units ---------------------------------------------------------------


def entry(path: str, oid: str = "", size: int = 10, mode: int = 0o100644) -> TreeEntry:
    return TreeEntry(path, oid or f"{abs(hash(path)):040x}"[:40], mode, size)


def test_a_whole_tree_check_skips_what_indexing_skips_a_named_path_does_not() -> None:
    tree = [
        entry("a.py"),
        entry("vendor/lib.py"),
        entry("big.py", size=10**9),
        entry("l.py", mode=MODE_SYMLINK),
    ]
    files, selected, skipped = select_files(tree, (), 1024)
    assert [f.path for f in selected] == ["a.py"]
    assert skipped == {"vendored": 1, "tooLarge": 1, "symlink": 1}
    _, named, _ = select_files(tree, ("vendor",), 1024)
    assert [f.path for f in named] == ["vendor/lib.py"]
    assert {f.path for f in files} == {"a.py", "vendor/lib.py"}


def test_the_syntax_level_has_a_unit_per_checkable_file_keyed_by_blob() -> None:
    tree = [entry("a.py", "1" * 40), entry("b/a.py", "1" * 40), entry("README.md")]
    inputs = PlanInputs("syntax", (), 1 << 20, 1, 1 << 20, "s1-x", syntax_checkable)
    plan = plan_check(tree, inputs, lambda p: b"")
    keys = [u.key for u in plan.units]
    assert keys == ["checks/syntax/s1-x/" + "1" * 40 + "/python"] * 2  # one result, two paths
    assert plan.stats["unchecked"] == 1 and plan.stats["batches"] == 2
    assert not plan.problems


def test_a_named_path_missing_from_the_commit_is_a_problem() -> None:
    inputs = PlanInputs("syntax", ("nope.py", "a.py"), 1 << 20, 8, 1 << 20, "v", syntax_checkable)
    plan = plan_check([entry("a.py")], inputs, lambda p: b"")
    assert plan.problems == ("not in this commit: nope.py",)


def test_code_languages_are_the_languages_the_syntax_level_parses() -> None:
    assert set(SPECS) | {"lean"} == CODE_LANGUAGES


def files_of(tree: dict[str, bytes]) -> list[PlannedFile]:
    from chalicelib.domain.languages import language_for

    return [
        PlannedFile(p, f"{i:040x}", language_for(p), len(d))
        for i, (p, d) in enumerate(sorted(tree.items()))
    ]


C_TREE = {
    "src/main.c": b'#include "util.h"\n#include <stdio.h>\n#include "../include/shared.h"\n',
    "src/util.h": b'#include "deep.h"\n',
    "include/deep.h": b"int deep;\n",
    "include/shared.h": b"int shared;\n",
    "src/other.c": b"int other;\n",
    "tool.py": b"x = 1\n",
    "lib.go": b"package lib\n",
}


def test_a_c_file_reads_the_headers_its_includes_reach_and_nothing_else() -> None:
    files = files_of(C_TREE)
    plan = plan_build(files, files, ["gcc", "py_compile"], C_TREE.__getitem__)
    by_subject = {u.subjects[0]: u for u in plan.units}
    main = [p for p, _ in by_subject["src/main.c"].closure]
    assert main == ["include/deep.h", "include/shared.h", "src/main.c", "src/util.h"]
    assert [p for p, _ in by_subject["src/other.c"].closure] == ["src/other.c"]
    assert plan.unsupported == {"go": 1}
    assert plan.reasons == ("no build toolchain here for go (1 file)",)


def test_a_one_file_change_changes_only_the_units_that_read_it() -> None:
    files = files_of(C_TREE)
    before = plan_build(files, files, ["gcc"], C_TREE.__getitem__)
    changed = [
        f if f.path != "include/deep.h" else PlannedFile(f.path, "f" * 40, f.language, 9)
        for f in files
    ]
    after = plan_build(changed, changed, ["gcc"], C_TREE.__getitem__)
    old = {u.subjects: u.key("gcc 12") for u in before.units}
    new = {u.subjects: u.key("gcc 12") for u in after.units}
    changed_units = [s for s in old if old[s] != new[s]]
    assert changed_units == [("include/deep.h",), ("src/main.c",), ("src/util.h",)]
    assert old[("src/other.c",)] == new[("src/other.c",)]
    assert old[("src/main.c",)] != before.units[0].key("gcc 13")  # the version is in the key


def test_an_include_that_leaves_the_repository_is_refused() -> None:
    tree = {"main.c": b'#include "/etc/passwd"\n#include "../../x.h"\nint x;\n'}
    files = files_of(tree)
    (unit,) = plan_build(files, files, ["gcc"], tree.__getitem__).units
    assert [(d.line, d.message) for d in unit.refused] == [
        (1, "#include of '/etc/passwd' leaves the repository: refused"),
        (2, "#include of '../../x.h' leaves the repository: refused"),
    ]


def test_project_tools_run_once_per_project_root() -> None:
    tree = {
        "Cargo.toml": b"", "src/main.rs": b"", "tools/x/Cargo.toml": b"", "tools/x/src/lib.rs": b"",
        "README.md": b"", "web/tsconfig.json": b"", "web/a.ts": b"", "b.ts": b"",
        "A.java": b"", "pkg/B.java": b"",
    }  # fmt: skip
    files = files_of(tree)
    plan = plan_build(files, files, ["cargo", "tsc", "javac"], tree.__getitem__)
    units = {(u.tool, u.root): u.subjects for u in plan.units}
    assert units == {
        ("cargo", ""): ("src/main.rs", "tools/x/src/lib.rs"),
        ("cargo", "tools/x"): ("tools/x/src/lib.rs",),
        ("tsc", "web"): ("web/a.ts",),
        ("tsc", ""): ("b.ts", "web/a.ts"),
        ("javac", ""): ("A.java", "pkg/B.java"),
    }
    assert project_root("lone.rs", SPEC_BY_TOOL["cargo"], {}) is None


def test_bundles_are_named_by_their_units() -> None:
    inputs = PlanInputs("syntax", (), 1 << 20, 8, 1 << 20, "v", syntax_checkable)
    one = plan_check([entry("a.py", "1" * 40)], inputs, lambda p: b"").units
    two = plan_check([entry("z/b.py", "1" * 40)], inputs, lambda p: b"").units
    assert bundle_key(one) == bundle_key(two)  # same content, other path: the same results


# --- stored forms ----------------------------------------------------------------------------


def test_plans_bundles_and_reports_round_trip() -> None:
    inputs = PlanInputs("build", (), 1 << 20, 8, 1 << 20, "v", syntax_checkable, {"gcc": "g"})
    plan = plan_check([entry("x.c")], inputs, lambda p: b'#include "/etc/x"\n')
    assert decode_plan(encode_plan(plan)) == plan
    d = Diagnostic("", 1, 2, 1, 3, "warning", "w", "tree-sitter")
    results = {"k": UnitResult((d,), True, 0.5), "j": UnitResult((), False, 1.0)}
    assert decode_bundle(encode_bundle(results)) == results
    report = CheckReport(("a.py",), (d,), True, ("b.py",))
    assert decode_report(encode_report(report)) == report
    with pytest.raises(ValueError, match="corrupt"):
        decode_bundle(b"not zlib")


def test_a_path_free_result_takes_the_units_file() -> None:
    inputs = PlanInputs("syntax", (), 1 << 20, 8, 1 << 20, "v", syntax_checkable)
    (unit,) = plan_check([entry("pkg/a.py")], inputs, lambda p: b"").units
    found = with_paths(unit, [Diagnostic("", 3, 1, 3, 2, "error", "e", "python")])
    assert found[0].path == "pkg/a.py"


# --- tool output -----------------------------------------------------------------------------

FILES = {"src/a.c": "int x = 1;\n\tint café = ;\n".encode(), "web/a.ts": b"let x: number = 'a';\n"}


def run_of(tool: str, root: str = "") -> ToolRun:
    return ToolRun(tool, FILES, "/tmp/scratch-1", "src/a.c", root)


def test_gcc_byte_columns_become_character_columns_and_foreign_files_are_hidden() -> None:
    output = json.dumps([
        {"kind": "error", "message": "expected expression before ';' token",
         "locations": [{"caret": {"file": "src/a.c", "line": 2, "byte-column": 13},
                        "finish": {"file": "src/a.c", "line": 2, "byte-column": 13}}]},
        {"kind": "note", "message": "ignored", "locations": []},
        {"kind": "error", "message": "expected ';' before 'root'",
         "locations": [{"caret": {"file": "/etc/shadow", "line": 1, "byte-column": 5}}]},
        {"kind": "warning", "message": "in /tmp/scratch-1/src/a.c",
         "locations": [{"caret": {"file": "/tmp/scratch-1/src/a.c", "line": 1, "byte-column": 5}}]},
    ])  # fmt: skip
    found = gcc_diagnostics(output, run_of("gcc"))
    assert [(d.path, d.line, d.column, d.end_line, d.end_column, d.severity) for d in found] == [
        ("src/a.c", 2, 12, 2, 13, "error"),
        ("src/a.c", 1, 1, 1, 1, "error"),
        ("src/a.c", 1, 5, 1, 6, "warning"),
    ]
    assert found[1].message == OUTSIDE  # no token of a server file leaves
    assert found[2].message == "in src/a.c"  # the scratch directory never shows


def test_tsc_lake_and_cargo_outputs_at_their_positions() -> None:
    tsc = "a.ts(1,5): error TS2322: Type 'string' is not assignable to type 'number'.\n"
    (d,) = tsc_diagnostics(tsc, run_of("tsc", "web"))
    assert (d.path, d.line, d.column, d.message[:6]) == ("web/a.ts", 1, 5, "TS2322")
    lean_files = {"Foo.lean": b"theorem t : 1 = 2 := rfl\n"}
    lake = "error: ./././Foo.lean:1:22: type mismatch\n"
    (d,) = lake_diagnostics(lake, ToolRun("lake", lean_files, "/s", "Foo.lean"))
    assert (d.path, d.line, d.column, d.severity) == ("Foo.lean", 1, 23, "error")
    rust = {"c/src/main.rs": b"fn main() {}\n", "c/Cargo.toml": b""}
    message = {"reason": "compiler-message", "message": {"level": "warning", "message": "unused",
               "spans": [{"is_primary": True, "file_name": "src/main.rs", "line_start": 1,
                          "column_start": 4, "line_end": 1, "column_end": 8}]}}  # fmt: skip
    out = json.dumps(message) + "\nerror: could not compile `c`\n"
    (d,) = cargo_diagnostics(out, ToolRun("cargo", rust, "/s", "c/src/main.rs", "c"))
    assert (d.path, d.line, d.column, d.end_column, d.severity) == (
        "c/src/main.rs",
        1,
        4,
        8,
        "warning",
    )


def test_a_failing_tool_with_nothing_parsed_is_an_error_not_a_pass() -> None:
    found = tool_diagnostics("Segmentation fault in /tmp/scratch-1/x\n", run_of("tsc"), 3)
    assert [(d.path, d.severity) for d in found] == [("src/a.c", "error")]
    assert "tsc failed (exit 3)" in found[0].message and "/tmp/scratch-1" not in found[0].message


# --- Lean statuses ---------------------------------------------------------------------------


def lean_graph() -> CodeGraph:
    def sym(name: str, line: int, incomplete: bool = False) -> Symbol:
        return Symbol(name, name, "theorem", line, line + 1, incomplete=incomplete)

    symbols = [sym("base", 1), sym("gap", 3, True), sym("uses_gap", 5), sym("broken", 7),
               sym("uses_broken", 9), sym("alone", 11)]  # fmt: skip
    refs = [Reference("gap", "call", 5, "uses_gap"), Reference("broken", "call", 9, "uses_broken"),
            Reference("base", "call", 7, "broken")]  # fmt: skip
    return CodeGraph.build([GraphFile("A.lean", "lean", symbols, refs)])


def statuses(graph: CodeGraph, **kwargs: object) -> dict[str, str]:
    found = declaration_statuses(graph, **kwargs)  # type: ignore[arg-type]
    return {graph.nodes[i].name: s for i, s in found.items()}


def test_without_a_check_declarations_are_sorry_blocked_or_unchecked() -> None:
    graph = lean_graph()
    assert statuses(graph, checked=None) == {
        "base": "unchecked", "gap": "sorry", "uses_gap": "blocked", "broken": "unchecked",
        "uses_broken": "unchecked", "alone": "unchecked",
    }  # fmt: skip


def test_a_syntax_error_marks_its_declaration_and_blocks_its_users_but_proves_nothing() -> None:
    graph = lean_graph()
    error = Diagnostic("A.lean", 8, 3, 8, 4, "error", "unbalanced", "lean-structure")
    checked = checked_files(["A.lean"], [error], level="syntax")
    assert statuses(graph, checked=checked) == {
        "base": "unchecked", "gap": "sorry", "uses_gap": "blocked", "broken": "error",
        "uses_broken": "blocked", "alone": "unchecked",
    }  # fmt: skip


def test_a_passing_lean_build_proves_what_has_no_sorry_and_no_error() -> None:
    graph = lean_graph()
    assert checked_files(["A.lean"], [], level="syntax").proves is False
    lake = Diagnostic("A.lean", 3, 1, 3, 2, "warning", "declaration uses 'sorry'", "lake")
    checked = checked_files(["A.lean"], [lake], level="build")
    assert statuses(graph, checked=checked)["alone"] == "proved"
    assert statuses(graph, checked=checked)["uses_gap"] == "blocked"


def test_wire_bounds_agree_with_the_domain_and_the_example_is_valid() -> None:
    from chalicelib.api import models
    from chalicelib.api.openapi import _EXAMPLES
    from chalicelib.api.wire import parse_body
    from chalicelib.domain import checks
    from chalicelib.services import check_requests

    assert (models.MAX_CHECK_PATHS, models.MAX_CHECK_PATH) == (
        checks.MAX_CHECK_PATHS,
        checks.MAX_CHECK_PATH_LENGTH,
    )
    assert models.SHA_PATTERN == checks.SHA_PATTERN
    assert models.MAX_CHECK_LIST == check_requests.MAX_LIST
    parse_body(models.CheckRequest, _EXAMPLES["CheckRequest"])
