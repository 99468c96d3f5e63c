"""`strata commit` against the local stack (moto server, HTTP front, the worker pump): local
files (text or binary, at a path of their own or another) and deletions land on a bare
repository; a stale base exits 1 naming the branch's head; syntax errors print their
diagnostics and exit 1; usage errors exit 2."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from chalicelib.client.transport import send_once
from chalicelib.local.cli import main
from chalicelib.local.stack import LocalStack
from tests.gitrepo import commit_files, init_repo
from tests.localstack import ADMIN_KEY, running_stack

AUTHOR = "Ada Lovelace <ada@example.com>"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with (
        running_stack(tmp_path_factory.mktemp("state")) as running,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("STRATA_API_KEY", ADMIN_KEY)
        mp.delenv("GIT_AUTHOR_NAME", raising=False)
        mp.delenv("GIT_AUTHOR_EMAIL", raising=False)
        yield running


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("repos") / "shop.git"
    init_repo(
        path, {"shop/cart.py": "def total():\n    return 0\n", "README.md": "# Shop\n"}, bare=True
    )
    return path


@pytest.fixture(scope="module")
def rid(stack: LocalStack, remote: Path) -> str:
    status = run(stack, "index", str(remote), "--json")[1]
    assert status["status"] == "ready"
    repository_id: str = status["repositoryId"]
    return repository_id


def head(remote: Path) -> str:
    return str(pygit2.Repository(str(remote)).references["refs/heads/main"].target)


def run(stack: LocalStack, *args: str) -> tuple[int, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--api", stack.api_url])
    text = out.getvalue()
    return code, json.loads(text) if "--json" in args and text.strip() else text


def test_files_and_deletions_land_and_the_answer_names_the_commit(
    stack: LocalStack, rid: str, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "tax.py").write_text("RATE = 0.2\n")
    (tmp_path / "logo.bin").write_bytes(bytes(range(256)))
    base = head(remote)
    args = ["commit", rid, "--branch", "main", "--base", base, "-m", "add the tax"]
    files = ["shop/tax.py", "logo.bin=assets/logo.bin", "--delete", "README.md"]
    code, text = run(stack, *args, "--author", AUTHOR, "--check", "syntax", *files)
    assert code == 0, text
    sha = head(remote)
    assert text.strip() == f"committed {sha[:12]} on main (index: indexing)"
    tree = pygit2.Repository(str(remote))[sha].peel(pygit2.Tree)
    logo = pygit2.Repository(str(remote))[tree["assets/logo.bin"].id].peel(pygit2.Blob)
    assert logo.data == bytes(range(256))
    assert "README.md" not in tree and "shop/tax.py" in tree
    again = [*args, "--author", AUTHOR, "--idempotency-key", "cli-1", "--json", "shop/tax.py"]
    code, stale = run(stack, *again)  # the base is behind now: 409, and a JSON error body
    assert code == 1 and stale["currentSha"] == sha


def test_a_stale_base_exits_1_and_names_the_branch_head(
    stack: LocalStack, rid: str, remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    base = head(remote)
    theirs = commit_files(remote, {"theirs.py": "t = 1\n"})
    local = f"{tmp_path / 'a.py'}=a.py"  # an absolute file, at a path of the repository
    code = main(["commit", rid, "--branch", "main", "--base", base, "-m", "m",
                 "--author", AUTHOR, local, "--api", stack.api_url])  # fmt: skip
    assert code == 1
    assert theirs in capsys.readouterr().err and head(remote) == theirs


def test_syntax_errors_print_their_diagnostics_and_commit_nothing(
    stack: LocalStack, rid: str, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.py").write_text("def broken(:\n    pass\n")
    base = head(remote)
    code, text = run(stack, "commit", rid, "--branch", "main", "--base", base, "-m", "m",
                     "--author", AUTHOR, "--check", "syntax", "bad.py")  # fmt: skip
    assert code == 1
    lines = text.strip().splitlines()
    assert lines[0].startswith("bad.py:1:") and lines[0].endswith("[python]")
    assert lines[-1].startswith("refused: the syntax check found 1 error(s)")
    assert head(remote) == base


def test_usage_errors_exit_2(
    stack: LocalStack, rid: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = "a" * 40
    common = ["commit", rid, "--branch", "main", "--base", base, "-m", "m", "--api", stack.api_url]
    assert main([*common, "--author", AUTHOR]) == 2  # nothing to commit
    assert "at least one FILE" in capsys.readouterr().err
    assert main([*common, "--delete", "x"]) == 2  # no author, none in the environment
    assert "--author" in capsys.readouterr().err
    assert main([*common, "--author", "Ada", "--delete", "x"]) == 2
    absolute = tmp_path / "abs.py"
    absolute.write_text("x\n")
    assert main([*common, "--author", AUTHOR, str(absolute)]) == 2
    assert "FILE=PATH" in capsys.readouterr().err


def test_the_local_http_front_replays_an_answer_to_the_same_key(
    stack: LocalStack, rid: str, remote: Path
) -> None:
    body = {
        "branch": "main",
        "baseSha": head(remote),
        "message": "over the socket",
        "author": {"name": "Ada", "email": "ada@example.com"},
        "changes": [{"path": "socket.txt", "content": "hello\n"}],
    }
    path = f"/repositories/{rid}/commits"
    key = {"Idempotency-Key": "over-the-socket"}
    sent = [
        send_once(stack.api_url, "POST", path, body, api_key=ADMIN_KEY, extra_headers=key)
        for _ in range(2)
    ]
    assert [r.status for r in sent] == [200, 200] and sent[0].body == sent[1].body
    assert sent[1].headers.get("Idempotent-Replayed") == "true"
    assert sent[0].body["sha"] == head(remote)
