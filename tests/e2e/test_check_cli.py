"""`strata check` against the local stack (moto server, HTTP front, the worker pump on every
queue, the check queue included): it waits for the check, prints the diagnostics, and exits
non-zero unless the check passed."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.local.cli import main
from chalicelib.local.stack import LocalStack
from tests.gitrepo import init_repo
from tests.localstack import ADMIN_KEY, running_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FILES = {
    "app/broken.py": (FIXTURES / "build" / "broken.py.txt").read_bytes(),
    "app/ok.py": b"def ok():\n    return 1\n",
    "web/broken.js": (FIXTURES / "build" / "broken.js").read_bytes(),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with (
        running_stack(tmp_path_factory.mktemp("state")) as running,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("STRATA_API_KEY", ADMIN_KEY)
        yield running


@pytest.fixture(scope="module")
def rid(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("repos") / "checked"
    init_repo(path, FILES)
    status = run(stack, "index", str(path), "--json")[1]
    assert status["status"] == "ready"
    repository_id: str = status["repositoryId"]
    return repository_id


def run(stack: LocalStack, *args: str) -> tuple[int, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--api", stack.api_url])
    text = out.getvalue()
    return code, json.loads(text) if "--json" in args else text


def test_a_failing_check_prints_each_diagnostic_and_exits_1(stack: LocalStack, rid: str) -> None:
    code, text = run(stack, "check", rid)
    assert code == 1
    lines = text.strip().splitlines()
    assert lines[:2] == [
        "app/broken.py:3:15: error: '(' was never closed [python]",
        "web/broken.js:3:16: error: syntax error: unexpected `*` [tree-sitter]",
    ]
    assert lines[2].startswith("failed: syntax check of ") and "2 errors" in lines[2]


def test_a_passing_check_exits_0_and_json_is_the_api_answer(stack: LocalStack, rid: str) -> None:
    code, text = run(stack, "check", rid, "--path", "app/ok.py")
    assert code == 0 and text.strip().startswith("passed: syntax check")
    code, body = run(stack, "check", rid, "--path", "app/ok.py", "--json")
    assert code == 0 and body["status"] == "passed" and body["stats"]["reused"] == 1


def test_a_build_check_through_the_cli(stack: LocalStack, rid: str) -> None:
    code, body = run(stack, "check", rid, "--level", "build", "--path", "app", "--json")
    assert code == 1 and body["level"] == "build"
    assert [(d["path"], d["line"], d["column"], d["tool"]) for d in body["diagnostics"]] == [
        ("app/broken.py", 3, 15, "py_compile")
    ]


def test_hostile_paths_are_refused_with_a_message(
    stack: LocalStack, rid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", rid, "--path", "../etc/passwd", "--api", stack.api_url])
    assert code == 1
    assert "'..'" in capsys.readouterr().err
