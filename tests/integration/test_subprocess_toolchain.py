"""SubprocessToolchain with real tools (each skipped only when absent on PATH): fixture files
with known errors at exact positions; then the limits, with stand-in tools on a PATH of the
test's own (a shell script named `node`): time, memory, output, network, processes, the
environment, and what may be materialized."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.subprocess_toolchain import SubprocessToolchain, ToolLimits, run_capped
from chalicelib.domain.check_plan import BuildRun
from chalicelib.settings import Settings

BUILD = Path(__file__).resolve().parents[1] / "fixtures" / "build"
SETTINGS = Settings.from_env()  # the machine's PATH and HOME, as a deployment reads them
Span = tuple[str, int, int, int, int, str]


def read(path: str) -> bytes:
    stored = BUILD / path
    return stored.read_bytes() if stored.exists() else (BUILD / f"{path}.txt").read_bytes()


def toolchain(tmp_path: Path, **options: object) -> SubprocessToolchain:
    return SubprocessToolchain(
        scratch_dir=str(tmp_path / "scratch"),
        path=str(options.pop("path", SETTINGS.check_path)),
        probe_env=SETTINGS.toolchain_env,
        **options,  # type: ignore[arg-type]
    )


def spans(tc: SubprocessToolchain, run: BuildRun) -> list[Span]:
    (result,) = tc.run([run])
    assert result.decided, result
    d = result.diagnostics
    return [(x.path, x.line, x.column, x.end_line, x.end_column, x.severity) for x in d]


# (tool, program on PATH, the run, [(path, line, column, end_line, end_column, severity)])
KNOWN: list[tuple[str, str, BuildRun, list[Span]]] = [
    (
        "py_compile", "python3",
        BuildRun("py_compile", "", ("pkg/broken.py",), {"pkg/broken.py": read("broken.py")}),
        [("pkg/broken.py", 3, 15, 3, 16, "error")],
    ),
    (
        "node-check", "node",
        BuildRun("node-check", "", ("broken.js",), {"broken.js": read("broken.js")}),
        [("broken.js", 3, 16, 3, 17, "error")],
    ),
    (
        "gcc", "gcc",
        BuildRun("gcc", "", ("src/broken.c",),
                 {"src/broken.c": read("src/broken.c"), "include/util.h": read("include/util.h")}),
        [("src/broken.c", 4, 13, 4, 14, "error")],
    ),
    (
        "javac", "javac",
        BuildRun("javac", "", ("Broken.java",), {"Broken.java": read("Broken.java")}),
        [("Broken.java", 3, 21, 3, 22, "error")],
    ),
    (
        "bash-n", "bash",
        BuildRun("bash-n", "", ("broken.sh",), {"broken.sh": read("broken.sh")}),
        [("broken.sh", 4, 1, 4, 3, "error")],
    ),
    (
        "cargo", "rustc",
        BuildRun("cargo", "crate", ("crate/src/main.rs",),
                 {"crate/Cargo.toml": read("crate/Cargo.toml"),
                  "crate/src/main.rs": read("crate/src/main.rs")}),
        [("crate/src/main.rs", 2, 22, 2, 29, "error")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "program", "run", "expected"), KNOWN, ids=[k[0] for k in KNOWN])
def test_real_tools_report_fixture_errors_at_exact_positions(
    tmp_path: Path, tool: str, program: str, run: BuildRun, expected: list[Span]
) -> None:
    if shutil.which(program, path=SETTINGS.check_path) is None:
        pytest.skip(f"{program} is not on PATH")
    tc = toolchain(tmp_path)
    if tool not in tc.versions():
        pytest.skip(f"{tool} is not offered here (cargo needs the sandbox)")
    assert spans(tc, run) == expected
    assert os.listdir(tmp_path / "scratch") == []  # every run's directory is gone


def test_clean_files_pass_and_many_python_files_share_one_interpreter(tmp_path: Path) -> None:
    tc = toolchain(tmp_path, tools=["py_compile"])
    runs = [BuildRun("py_compile", "", (f"m{i}.py",), {f"m{i}.py": b"x = 1\n"}) for i in range(20)]
    runs.append(BuildRun("py_compile", "", ("bad.py",), {"bad.py": read("broken.py")}))
    started = time.monotonic()
    results = tc.run(runs)
    assert all(r.decided for r in results)
    assert [len(r.diagnostics) for r in results] == [0] * 20 + [1]
    assert results[-1].diagnostics[0].path == "bad.py"
    assert time.monotonic() - started < 10


def test_versions_name_the_tool_and_the_limits_results_were_made_under(tmp_path: Path) -> None:
    tc = toolchain(tmp_path, tools=["py_compile"], limits=ToolLimits(30, 256, 4096))
    (version,) = tc.versions().values()
    assert version.startswith("Python 3.") and "256 MB, 30 s" in version


# --- stand-in tools ------------------------------------------------------------------------


def stand_in(tmp_path: Path, body: str) -> str:
    """A PATH whose `node` runs `body` (sh) for `node --check FILE`; the rest of PATH is the
    system's, so the sandbox (unshare) and the limits (prlimit) are the real ones."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "node"
    script.write_text(
        f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo v0-fake; exit 0; fi\n{body}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"


def node_run() -> BuildRun:
    return BuildRun("node-check", "", ("a.js",), {"a.js": b"let x = 1;\n"})


def report(body: str) -> str:
    """A stand-in body that reports the output of `body` as node's SyntaxError message."""
    output = f'$({body} 2>&1 | tr "\\n" " ")'
    return f'echo "a.js:1"; echo "let"; echo "^"; echo; echo "SyntaxError: {output}"; exit 1'


def message(tc: SubprocessToolchain) -> str:
    (result,) = tc.run([node_run()])
    return " | ".join(d.message for d in result.diagnostics)


@pytest.mark.parametrize("sandbox", ["off", "auto"])
def test_a_run_over_its_time_is_killed_with_its_children_and_undecided(
    tmp_path: Path, sandbox: str
) -> None:
    marker = f"61.{secrets.randbelow(10**9):09d}"  # this test's children, no one else's
    path = stand_in(tmp_path, f"sleep {marker} & sleep {marker}")
    tc = toolchain(tmp_path, path=path, limits=ToolLimits(timeout_seconds=1.0), sandbox=sandbox)
    started = time.monotonic()
    (result,) = tc.run([node_run()])
    assert time.monotonic() - started < 10
    assert not result.decided
    assert "stopped after 1 s (time limit)" in result.diagnostics[0].message
    time.sleep(0.2)
    alive = [p for p in Path("/proc").glob("[0-9]*") if marker.encode() in _cmdline(p)]
    for proc in alive:  # the test's own strays, by pid, so a failure leaves nothing behind
        with contextlib.suppress(OSError):
            os.kill(int(proc.name), signal.SIGKILL)
    assert alive == [], "a child of the killed run outlived it"


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_memory_over_the_limit_fails_the_allocation(tmp_path: Path) -> None:
    python = shutil.which("python3", path=SETTINGS.check_path)
    assert python is not None
    grab = f"{python} -I -S -c 'bytearray(400 * 1024 * 1024); print(\"allocated\")'"
    limited = toolchain(
        tmp_path, path=stand_in(tmp_path, report(grab)), limits=ToolLimits(memory_mb=128)
    )
    assert "MemoryError" in message(limited) and "allocated" not in message(limited)
    roomy = toolchain(
        tmp_path, path=stand_in(tmp_path, report(grab)), limits=ToolLimits(memory_mb=2048)
    )
    assert "allocated" in message(roomy)


def test_output_past_the_cap_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = stand_in(tmp_path, "head -c 3000000 /dev/zero | tr '\\0' x; exit 1")
    tc = toolchain(tmp_path, path=path, limits=ToolLimits(output_bytes=4096))
    (result,) = tc.run([node_run()])
    warnings = [d.message for d in result.diagnostics if d.severity == "warning"]
    assert warnings == ["node-check printed more than 4096 bytes: the rest was dropped"]
    env = {"PATH": "/usr/bin:/bin"}
    done = run_capped(
        ["sh", "-c", "head -c 3000000 /dev/zero"], str(tmp_path), env, ToolLimits(output_bytes=4096)
    )
    assert (done.code, len(done.output), done.truncated) == (0, 4096, True)


def test_tools_see_no_credentials_and_a_scratch_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    monkeypatch.setenv("STRATA_GIT_TOKEN", "ghp_secret")
    tc = toolchain(tmp_path, path=stand_in(tmp_path, report("env")))
    seen = message(tc)
    assert "s3cr3t-value" not in seen and "ghp_secret" not in seen and "AWS_" not in seen
    assert "HOME=.strata-home" in seen  # the scratch directory itself never shows
    assert str(tmp_path / "scratch") not in seen


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on the host's loopback; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    threading.Thread(target=lambda: _accept_one(server), daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _accept_one(server: socket.socket) -> None:
    try:
        conn, _ = server.accept()
        conn.close()
    except OSError:
        pass


def test_a_sandboxed_run_has_no_network_and_sees_no_other_process(
    tmp_path: Path, listener: int
) -> None:
    connect = f"(echo > /dev/tcp/127.0.0.1/{listener}) 2>/dev/null"
    probe = f"{connect} && echo CONNECTED || echo OFFLINE; ls /proc | grep -c '^[0-9]'"
    body = report(f"bash -c '{probe}'")
    sandboxed = toolchain(tmp_path, path=stand_in(tmp_path, body))
    if not sandboxed.sandboxed:
        pytest.skip("unshare cannot make namespaces here")
    seen = message(sandboxed)
    assert "OFFLINE" in seen and "CONNECTED" not in seen
    assert int(seen.split()[-1]) < 10, seen  # only the run's own processes
    open_run = toolchain(tmp_path, path=stand_in(tmp_path, body), sandbox="off")
    assert "CONNECTED" in message(open_run)  # the probe does reach the host's network


def test_code_running_tools_are_offered_only_inside_the_sandbox(tmp_path: Path) -> None:
    open_tc = toolchain(tmp_path, sandbox="off")
    assert "cargo" not in open_tc.versions() and "lake" not in open_tc.versions()
    none = toolchain(tmp_path, sandbox="required", path=str(tmp_path / "empty"))
    assert none.versions() == {}  # no unshare on that PATH: no tool at all


@pytest.mark.parametrize("path", ["../escape.py", "/etc/x.py", ".git/config", "a/../../b.py"])
def test_files_outside_the_scratch_directory_are_never_written(tmp_path: Path, path: str) -> None:
    tc = toolchain(tmp_path, tools=["py_compile"])
    with pytest.raises(ValueError, match="refusing to materialize"):
        tc.run([BuildRun("py_compile", "", (path,), {path: b"x = 1\n"})])
    assert not (tmp_path / "escape.py").exists()
    assert os.listdir(tmp_path / "scratch") == []


def test_a_tool_that_cannot_start_is_undecided(tmp_path: Path) -> None:
    path = stand_in(tmp_path, "exit 0")
    tc = toolchain(tmp_path, path=path)
    tc.versions()
    (tmp_path / "bin" / "node").unlink()
    (result,) = tc.run([node_run()])
    assert not result.decided and "not decided" in result.diagnostics[0].message
