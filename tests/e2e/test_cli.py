"""The `strata` command line against the local stack: in this process through main(), and as
real processes (the installed console script) for `serve` and a client command."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from chalicelib.local.cli import UsageError, index_body, main
from chalicelib.local.render import Progress, stats_lines
from chalicelib.local.stack import LocalStack
from tests.gitrepo import init_repo
from tests.localstack import ADMIN_KEY, running_stack, wait_until

ROOT = Path(__file__).resolve().parents[2]
LINES = [f"pear_{n} = {n}" for n in range(1, 50)]
LINES[29] = "def espalier_the_pear_tree(wall):  return wall.tie(branches=4)"  # line 30
FILES = {
    "README.md": "# Espalier\n\nTrain fruit trees flat against a wall.\n",
    "espalier/pears.py": "\n".join(LINES) + "\n",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with (
        running_stack(tmp_path_factory.mktemp("state")) as running,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("STRATA_API_KEY", ADMIN_KEY)  # what the commands send: the stack's admin key
        yield running


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("repos") / "espalier"
    init_repo(path, FILES)
    return path


def main_json(stack: LocalStack, *args: str) -> dict[str, Any]:
    """Run a command with --json in this process and parse what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--api", stack.api_url, "--json"]) == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


@pytest.fixture(scope="module")
def indexed(stack: LocalStack, repo: Path) -> str:
    status = main_json(stack, "index", str(repo))
    assert status["status"] == "ready"
    rid: str = status["repositoryId"]
    return rid


def _id_hash(path: Path) -> str:
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]


def test_a_closed_pipe_ends_the_command_quietly(stack: LocalStack, indexed: str) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `strata search ... | head` once head has exited
    with open(write_end, "w") as closed, contextlib.redirect_stdout(closed):
        assert main(["--api", stack.api_url, "search", indexed, "pear", "-k", "50"]) == 141


def test_index_shows_progress_then_the_stats(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "quince"
    init_repo(path, {f"q{i}.py": f"def quince_{i}():\n    return {i}\n" for i in range(5)})
    assert main(["--api", stack.api_url, "index", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"local:quince-{_id_hash(path)}: ready at " in out
    assert "5 files" in out and "languages: python 5" in out
    progress = err.splitlines()
    assert progress[-1] == f"ready: [{'#' * 30}] 5/5 files"
    assert all(line.startswith(("indexing", "ready")) for line in progress)


def test_status_search_and_ask_for_humans(
    stack: LocalStack, indexed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    api = ["--api", stack.api_url]
    assert main([*api, "status", indexed]) == 0
    assert capsys.readouterr().out.startswith(f"{indexed}: ready\n  branch main, indexed ")

    assert main([*api, "search", indexed, "espalier pear tree", "-k", "2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    path, lines = first.split()[0].split(":")
    start, end = map(int, lines.split("-"))
    assert path == "espalier/pears.py" and start <= 30 <= end

    assert main([*api, "ask", indexed, "how is the pear tree espaliered?"]) == 0
    answer = capsys.readouterr().out
    assert "\nSources:\n  espalier/pears.py:" in answer
    assert "--conversation " in answer


def test_json_prints_the_raw_responses(stack: LocalStack, indexed: str) -> None:
    status = main_json(stack, "status", indexed)
    assert status["status"] == "ready" and status["repositoryId"] == indexed
    found = main_json(stack, "search", indexed, "espalier", "-k", "1")
    assert [h["path"] for h in found["hits"]] == ["espalier/pears.py"]
    answer = main_json(stack, "ask", indexed, "what does espalier_the_pear_tree tie?")
    assert answer["sources"] and answer["conversationId"]


def test_index_targets_become_request_bodies(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    assert index_body(str(tmp_path), "dev", True) == {
        "url": str(tmp_path.resolve()),
        "branch": "dev",
        "force": True,
    }
    assert index_body("https://git.example.com/a/b.git", None, False) == {
        "url": "https://git.example.com/a/b.git"
    }
    assert index_body("github:acme:widgets", None, False) == {"repositoryId": "github:acme:widgets"}
    assert index_body("acme/widgets", None, False) == {"owner": "acme", "repo": "widgets"}
    with pytest.raises(UsageError, match="not a directory"):
        index_body(str(tmp_path / "file.txt"), None, False)
    with pytest.raises(UsageError, match="owner/repo"):
        index_body("no such thing", None, False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("strata: ")
    return lines[0]


def test_errors_are_one_line_and_exit_non_zero(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "github:a:b"]) == 2
    assert "required: query" in _one_line(capsys.readouterr().err)
    assert main(["status", "github:a:b", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in _one_line(capsys.readouterr().err)

    unreachable = f"http://127.0.0.1:{_free_port()}"
    assert main(["--api", unreachable, "status", "github:a:b"]) == 1
    assert f"cannot reach the Strata API at {unreachable}" in _one_line(capsys.readouterr().err)

    assert main(["--api", stack.api_url, "search", "github:nobody:nothing", "anything"]) == 1
    assert "(HTTP 400)" in _one_line(capsys.readouterr().err)
    assert main(["--api", stack.api_url, "status", "not an id"]) == 1
    assert "repositoryId must look like" in _one_line(capsys.readouterr().err)
    assert main(["--api", stack.api_url, "search", "github:a:b", "q", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "idle" and _one_line(err)


def _strata() -> list[str]:
    script = Path(sys.executable).with_name("strata")
    return [str(script)] if script.exists() else [sys.executable, "-m", "chalicelib.local.cli"]


def _read_until(stream: IO[str], marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} did not appear; got {lines}")


def test_strata_serve_runs_the_stack_and_stops_cleanly_on_sigterm(
    repo: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    # The embedder `make run` uses (the local model): every worker of the stack must run.
    env = {
        **{k: v for k, v in os.environ.items() if k != "STRATA_API_KEY"},
        "STRATA_PORT": str(_free_port()),
        "STRATA_WS_PORT": "0",  # not STRATA_PORT + 1, which another server may hold
        "PYTHONUNBUFFERED": "1",
        "STRATA_EMBEDDER": "minilm",
        "STRATA_LOCAL_ROOTS": str(repo.parent),  # the default roots are home and the cwd
    }
    serve = [*_strata(), "serve", "--no-demo", "--state-dir", str(state)]
    server = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        banner = _read_until(server.stdout, "Press Ctrl-C", 60)
        api = f"http://127.0.0.1:{env['STRATA_PORT']}"
        assert f"Strata API on {api} (embedded AWS on http://127.0.0.1:" in banner[0]
        saved = (state / "api-key").read_text().strip()  # the admin key of the first start
        assert f"export STRATA_API_KEY={saved}" in "".join(banner)
        assert stat.S_IMODE((state / "api-key").stat().st_mode) == 0o600

        client = subprocess.run(  # finds the key where `strata serve` saved it
            [*_strata(), "index", str(repo), "--json"],
            check=False,
            cwd=ROOT,
            env={**env, "STRATA_API": api, "STRATA_STATE_DIR": str(state)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert client.returncode == 0, client.stderr
        indexed = json.loads(client.stdout)
        assert indexed["status"] == "ready"
        assert indexed["stats"]["chunksEmbedded"] > 0
        assert indexed["stats"]["embeddingModel"] == "all-minilm-l6-v2"

        second = subprocess.run(
            serve,
            check=False,
            cwd=ROOT,
            env={**env, "STRATA_PORT": "0"},
            capture_output=True,
            timeout=60,
        )
        assert second.returncode == 1 and b"another `strata serve` is using" in second.stderr

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        rest = server.stdout.read()
        assert "Stopping..." in rest and "Saved " in rest
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    store = state / "aws"  # the durable store (chalicelib/local/durability.py)
    assert wait_until(lambda: (store.is_dir() and any(store.iterdir())) or None, 5, "the state")


def test_progress_is_one_updating_line_on_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress.update({"status": "indexing", "progress": {"filesProcessed": 0, "numFiles": 0}})
    for parsed, embedded in [(5, 0), (10, 3), (10, 10)]:
        counts = {"filesProcessed": parsed, "numFiles": 10, "filesEmbedded": embedded}
        progress.update({"status": "indexing", "progress": counts})
    progress.update(
        {"status": "ready", "progress": {"filesProcessed": 10, "numFiles": 10}}, final=True
    )
    frames = out.getvalue().split("\r")[1:]
    assert [f.strip() for f in frames] == [
        "indexing: planning...",
        f"indexing: [{'#' * 15}{'.' * 15}] 5/10 files parsed",
        f"indexing: [{'#' * 9}{'.' * 21}] 3/10 files embedded",
        "indexing: finalizing...",
        f"ready: [{'#' * 30}] 10/10 files",
    ]
    assert out.getvalue().endswith("\n") and out.getvalue().count("\n") == 1


def test_stats_name_the_embedding_model_only_when_there_are_vectors() -> None:
    stats = {"totalFiles": 2, "totalSize": 10, "chunks": 3, "languages": {"python": 2}}
    assert not any("vectors" in line for line in stats_lines(stats))
    embedded = {**stats, "embeddingModel": "m-1", "chunksEmbedded": 1, "vectorsReused": 2}
    assert "  vectors: m-1, 1 chunks embedded, 2 reused" in stats_lines(embedded)


# --- API keys -----------------------------------------------------------------------------


def test_keys_are_created_listed_and_revoked_with_the_admin_key(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], indexed: str
) -> None:
    api = ["--api", stack.api_url]
    created = main_json(stack, "keys", "create", "--tenant", "orchard", "--scope", "read")
    assert (created["tenant"], created["scope"]) == ("orchard", "read")
    token = created["key"]
    assert (
        main([*api, "keys", "create", "--tenant", "orchard", "--scope", "index", "--name", "ci"])
        == 0
    )
    shown = capsys.readouterr().out
    assert "not shown again" in shown and shown.strip().splitlines()[-1].startswith("strata_")

    assert main([*api, "keys", "list", "--tenant", "orchard"]) == 0
    listed = capsys.readouterr().out
    assert created["keyId"] in listed and "ci" in listed and token[-43:] not in listed

    with pytest.MonkeyPatch.context() as mp:  # the read key reads, and may not index
        mp.setenv("STRATA_API_KEY", token)
        assert main([*api, "status", indexed]) == 0
        assert main([*api, "index", indexed]) == 1
        assert "scope" in _one_line(capsys.readouterr().err)

    assert main([*api, "keys", "revoke", created["keyId"]]) == 0
    assert f"{created['keyId']}: revoked at " in capsys.readouterr().out
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STRATA_API_KEY", token)
        assert main([*api, "status", indexed]) == 1
        assert "(HTTP 401)" in _one_line(capsys.readouterr().err)


def test_commands_without_a_key_say_where_to_get_one(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("STRATA_API_KEY")
        mp.setenv("STRATA_STATE_DIR", str(tmp_path))  # no api-key file there
        assert main(["--api", stack.api_url, "status", "github:a:b"]) == 1
    err = _one_line(capsys.readouterr().err)
    assert "(HTTP 401)" in err and "STRATA_API_KEY" in err
    assert main(["--api", stack.api_url, "keys", "create", "--tenant", "x", "--scope", "root"]) == 2
