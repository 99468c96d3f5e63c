"""SubprocessToolchain: the `build` check level's real tools, run as child processes.

AWS resources: none (local disk under `scratch_dir`). IAM: none.

Each run materializes exactly its unit's files (repository paths, validated again here) in a
fresh scratch directory, runs the tool there and deletes the directory. Limits on every run:
- time: the process group is killed (SIGKILL) after `timeout_seconds`;
- memory: RLIMIT_DATA (`prlimit`, else a tiny Python shim that sets it and execs), which
  bounds the heap without breaking runtimes that reserve address space (V8, the JVM);
- output: at most `output_bytes` are kept (the rest is read and dropped, with a warning);
- no network and no view of other processes: when `unshare` works here, each run gets new
  network, PID and mount namespaces (`--kill-child`: nothing outlives it). Tools that run
  repository code (cargo's build scripts and macros, lake's Lean elaboration) are offered
  only with that sandbox. The environment is rebuilt from nothing: PATH, a scratch HOME and
  TMPDIR, C.UTF-8, and what a tool needs (RUSTC, CARGO_TARGET_DIR...): no credentials.
A run that was killed or could not start is *undecided* (never cached, never a pass).

Tools (ids from domain/build_units.py), found on `path` unless `tools` names fewer:
py_compile (this interpreter or `python`), node-check, gcc, g++, bash-n, tsc, javac, cargo
(the real binaries of rustc's sysroot), lake. Versions come from `--version` once per
process and include the limits, so results made under other limits are never reused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.build_units import SPEC_BY_TOOL, include_dirs
from chalicelib.domain.check_plan import BuildRun, UnitResult
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.repo_paths import repository_path
from chalicelib.domain.tool_output import ToolRun, tool_diagnostics
from chalicelib.errors import InvalidRequest

log = logging.getLogger(__name__)

SANDBOX = ("unshare", "--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc")
_PROBE_SECONDS = 20.0
_MAX_FILE_BYTES = 512 * 1024 * 1024  # RLIMIT_FSIZE: no run fills the disk with one file
_LIMIT_SHIM = (
    "import os,resource,sys\n"
    "n=int(sys.argv[1]);resource.setrlimit(resource.RLIMIT_DATA,(n,n))\n"
    "resource.setrlimit(resource.RLIMIT_CORE,(0,0))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE,(int(sys.argv[2]),)*2)\n"
    "os.execvp(sys.argv[3],sys.argv[3:])\n"
)
# py_compile over many files in one interpreter: one JSON line per file that fails.
_PY_COMPILE_DRIVER = (
    "import json,os,py_compile,sys\n"
    "out=os.path.join(os.environ['TMPDIR'],'out.pyc')\n"
    "for p in sys.argv[1:]:\n"
    " try:py_compile.compile(p,cfile=out,doraise=True)\n"
    " except py_compile.PyCompileError as e:\n"
    "  v=e.exc_value;g=lambda n:getattr(v,n,None)\n"
    "  print(json.dumps({'path':p,'msg':str(g('msg') or v),'line':g('lineno'),"
    "'offset':g('offset'),'end_line':g('end_lineno'),'end_offset':g('end_offset')}))\n"
)


@dataclass(frozen=True)
class ToolLimits:
    timeout_seconds: float = 60.0
    memory_mb: int = 1024
    output_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class _Tool:
    tool: str
    executable: str
    version: str
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Outcome:
    code: int | None  # None: killed for time, or could not start
    output: str
    truncated: bool
    seconds: float
    why: str = ""


class SubprocessToolchain:
    def __init__(
        self,
        *,
        scratch_dir: str,
        path: str,
        limits: ToolLimits | None = None,
        tools: Sequence[str] | None = None,
        sandbox: str = "auto",
        probe_env: Mapping[str, str] | None = None,
        python: str | None = None,
    ) -> None:
        """`tools`: the ids to offer (None: every one found); `sandbox`: "auto" (namespaces
        when unshare works), "required" (no tool without them) or "off"; `probe_env`: the
        environment version probes run with (rustup and elan find their toolchains there)."""
        self._scratch = scratch_dir
        self._path = path
        self._limits = limits or ToolLimits()
        self._wanted = None if tools is None else set(tools)
        self._sandbox_mode = sandbox
        self._probe_env = {"PATH": path, **(probe_env or {})}
        self._python = python or sys.executable
        self._lock = threading.Lock()
        self._tools: dict[str, _Tool] | None = None
        self._sandbox: tuple[str, ...] | None = None

    # --- what is here ------------------------------------------------------------------

    def versions(self) -> Mapping[str, str]:
        return {t.tool: t.version for t in self._found().values()}

    @property
    def sandboxed(self) -> bool:
        self._found()
        return bool(self._sandbox)

    def _found(self) -> dict[str, _Tool]:
        with self._lock:
            if self._tools is None:
                os.makedirs(self._scratch, exist_ok=True)
                self._sandbox = self._probe_sandbox()
                self._tools = self._probe_tools()
            return self._tools

    def _probe_sandbox(self) -> tuple[str, ...]:
        if self._sandbox_mode == "off" or shutil.which("unshare", path=self._path) is None:
            return ()
        try:
            done = subprocess.run(
                [*SANDBOX, "true"],
                capture_output=True,
                timeout=_PROBE_SECONDS,
                env=self._probe_env,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return ()
        return SANDBOX if done.returncode == 0 else ()

    def _probe_tools(self) -> dict[str, _Tool]:
        if self._sandbox_mode == "required" and not self._sandbox:
            log.warning("no sandbox here (unshare refused): no build tool is offered")
            return {}
        found: dict[str, _Tool] = {}
        for tool in SPEC_BY_TOOL:
            if self._wanted is not None and tool not in self._wanted:
                continue
            if SPEC_BY_TOOL[tool].runs_code and not self._sandbox:
                continue  # repository code runs only inside the namespaces
            made = self._probe(tool)
            if made is not None:
                found[tool] = made
        return found

    def _probe(self, tool: str) -> _Tool | None:
        if tool == "cargo":
            return self._probe_cargo()
        names = {"py_compile": self._python, "node-check": "node", "bash-n": "bash"}
        executable = shutil.which(names.get(tool, tool), path=self._path)
        if executable is None:
            return None
        version = self._version([executable, "--version"])
        return None if version is None else _Tool(tool, executable, self._marked(version))

    def _probe_cargo(self) -> _Tool | None:
        """The sysroot's real cargo and rustc (rustup's proxies need the user's HOME)."""
        rustc = shutil.which("rustc", path=self._path)
        sysroot = self._version([rustc, "--print", "sysroot"]) if rustc else None
        if not sysroot:
            return None
        cargo, real_rustc = (posixpath.join(sysroot, "bin", n) for n in ("cargo", "rustc"))
        version = self._version([real_rustc, "--version"])
        if version is None or not os.access(cargo, os.X_OK):
            return None
        return _Tool("cargo", cargo, self._marked(version), {"RUSTC": real_rustc})

    def _version(self, argv: list[str]) -> str | None:
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                timeout=_PROBE_SECONDS,
                env=self._probe_env,
                text=True,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        text = (done.stdout or done.stderr).strip()
        return text.splitlines()[0].strip() if done.returncode == 0 and text else None

    def _marked(self, version: str) -> str:
        lim = self._limits
        sandbox = "netns" if self._sandbox else "open"
        return f"{version}; {lim.memory_mb} MB, {lim.timeout_seconds:g} s, {sandbox}"

    # --- running -----------------------------------------------------------------------

    def run(self, runs: Sequence[BuildRun]) -> list[UnitResult]:
        tools = self._found()
        results: list[UnitResult | None] = [None] * len(runs)
        grouped = [i for i, r in enumerate(runs) if r.tool == "py_compile" and r.tool in tools]
        if grouped:
            for i, result in zip(
                grouped, self._run_py_compile([runs[i] for i in grouped]), strict=True
            ):
                results[i] = result
        for i, r in enumerate(runs):
            if results[i] is None:
                results[i] = self._run_one(r, tools.get(r.tool))
        return [r for r in results if r is not None]

    def _run_one(self, unit: BuildRun, tool: _Tool | None) -> UnitResult:
        subject = unit.subjects[0] if unit.subjects else unit.root
        if tool is None:
            return _undecided(subject, unit.tool, f"{unit.tool} is not available here")
        with _Scratch(self._scratch, unit.files) as scratch:
            cwd = posixpath.join(scratch.path, unit.root) if unit.root else scratch.path
            if not os.path.isdir(cwd):
                cwd = scratch.path
            argv = self._argv(tool, unit, scratch.path)
            done = self._execute(argv, cwd, scratch, tool)
            return self._result(done, unit, tool, scratch.path, subject)

    def _run_py_compile(self, units: Sequence[BuildRun]) -> list[UnitResult]:
        tool = self._found()["py_compile"]
        files = {p: data for u in units for p, data in u.files.items()}
        with _Scratch(self._scratch, files) as scratch:
            subjects = [s for u in units for s in u.subjects]
            argv = [tool.executable, "-I", "-S", "-c", _PY_COMPILE_DRIVER, *subjects]
            done = self._execute(argv, scratch.path, scratch, tool)
            return [
                self._result(
                    done, u, tool, scratch.path, u.subjects[0], share=len(units), files=files
                )
                for u in units
            ]

    def _argv(self, tool: _Tool, unit: BuildRun, scratch: str) -> list[str]:
        t, subjects = tool.tool, list(unit.subjects)
        rel = [posixpath.relpath(s, unit.root) if unit.root else s for s in subjects]
        if t == "node-check":
            return [tool.executable, "--check", subjects[0]]
        if t in ("gcc", "g++"):
            language = "c" if t == "gcc" else "c++"
            includes = [f"-I{d or '.'}" for d in include_dirs(subjects[0])]
            return [
                tool.executable, "-fsyntax-only", "-fdiagnostics-format=json",
                "-fdiagnostics-column-unit=byte", *includes, "-x", language, subjects[0],
            ]  # fmt: skip
        if t == "bash-n":
            return [tool.executable, "-n", subjects[0]]
        if t == "tsc":
            config = posixpath.join(unit.root, "tsconfig.json") if unit.root else "tsconfig.json"
            target = ["-p", "tsconfig.json"] if config in unit.files else rel
            return [tool.executable, "--noEmit", "--pretty", "false", *target]
        if t == "javac":
            listing = os.path.join(scratch, ".strata-tmp", "sources.txt")
            with open(listing, "w", encoding="utf-8") as f:
                f.write("\n".join(f'"{s}"' for s in rel))
            heap = max(64, self._limits.memory_mb // 2)
            out = os.path.join(scratch, ".strata-tmp", "classes")
            return [
                tool.executable, f"-J-Xmx{heap}m", "-proc:none", "-implicit:none",
                "-encoding", "UTF-8", "-d", out, f"@{listing}",
            ]  # fmt: skip
        if t == "cargo":
            return [tool.executable, "check", "--offline", "--message-format=json", "--quiet"]
        return [tool.executable, "build"]  # lake

    def _env(self, tool: _Tool, scratch: _Scratch) -> dict[str, str]:
        env = {
            "PATH": self._path,
            "HOME": scratch.home,
            "TMPDIR": scratch.tmp,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            **tool.env,
        }
        if tool.tool == "cargo":
            env |= {
                "CARGO_HOME": os.path.join(scratch.home, ".cargo"),
                "CARGO_TARGET_DIR": os.path.join(scratch.tmp, "target"),
                "CARGO_NET_OFFLINE": "true",
            }
        return env

    def _execute(self, argv: list[str], cwd: str, scratch: _Scratch, tool: _Tool) -> _Outcome:
        data = self._limits.memory_mb * 1024 * 1024
        if shutil.which("prlimit", path=self._path):
            limit = ["prlimit", f"--data={data}", "--core=0", f"--fsize={_MAX_FILE_BYTES}", "--"]
        else:
            limit = [self._python, "-I", "-S", "-c", _LIMIT_SHIM, str(data), str(_MAX_FILE_BYTES)]
        command = [*(self._sandbox or ()), *limit, *argv]
        return run_capped(command, cwd, self._env(tool, scratch), self._limits)

    def _result(
        self,
        done: _Outcome,
        unit: BuildRun,
        tool: _Tool,
        scratch: str,
        subject: str,
        *,
        share: int = 1,
        files: Mapping[str, bytes] | None = None,
    ) -> UnitResult:
        """`share`: how many units the run served (one interpreter for many files), whose
        `files` it read."""
        if done.code is None:
            return _undecided(subject, tool.tool, done.why, done.seconds / share)
        if done.code < 0 or done.code in (126, 127):
            why = (
                f"{tool.tool} was killed (signal {-done.code})"
                if done.code < 0
                else f"{tool.tool} could not start"
            )
            return _undecided(subject, tool.tool, why, done.seconds / share)
        run = ToolRun(tool.tool, files or unit.files, scratch, subject, unit.root)
        found = tool_diagnostics(done.output, run, 0 if share > 1 else done.code)
        if share > 1:  # one interpreter for many files: each unit keeps its own findings
            found = [d for d in found if d.path in unit.subjects]
        if done.truncated:
            limit = self._limits.output_bytes
            note = f"{tool.tool} printed more than {limit} bytes: the rest was dropped"
            found.append(Diagnostic(subject, 1, 1, 1, 1, "warning", note, "strata"))
        return UnitResult(tuple(found), True, done.seconds / share)


def _undecided(subject: str, tool: str, why: str, seconds: float = 0.0) -> UnitResult:
    message = f"not decided: {why}"
    return UnitResult((Diagnostic(subject, 1, 1, 1, 1, "error", message, tool),), False, seconds)


class _Scratch:
    """A fresh directory holding exactly `files`, removed on exit."""

    def __init__(self, root: str, files: Mapping[str, bytes]) -> None:
        self._root = root
        self._files = files
        self.path = ""

    @property
    def home(self) -> str:
        return os.path.join(self.path, ".strata-home")

    @property
    def tmp(self) -> str:
        return os.path.join(self.path, ".strata-tmp")

    def __enter__(self) -> _Scratch:
        os.makedirs(self._root, exist_ok=True)
        self.path = os.path.realpath(tempfile.mkdtemp(prefix="check-", dir=self._root))
        os.makedirs(self.home)
        os.makedirs(self.tmp)
        try:
            for relative in self._files:  # each path by itself: a project has many
                repository_path(relative)
        except InvalidRequest as exc:
            shutil.rmtree(self.path, ignore_errors=True)
            raise ValueError(f"refusing to materialize a file: {exc.message}") from exc
        for relative, data in self._files.items():
            target = os.path.join(self.path, *relative.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def run_capped(
    argv: Sequence[str], cwd: str, env: Mapping[str, str], limits: ToolLimits
) -> _Outcome:
    """Run `argv` in its own process group: output (stdout and stderr, merged) capped at
    `limits.output_bytes`, the whole group killed at `limits.timeout_seconds`."""
    started = time.monotonic()
    try:
        child = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return _Outcome(None, "", False, 0.0, f"could not start ({exc.strerror})")
    assert child.stdout is not None
    stream = child.stdout
    kept = bytearray()
    dropped = [0]

    def drain() -> None:
        while chunk := os.read(stream.fileno(), 65536):
            room = limits.output_bytes - len(kept)
            kept.extend(chunk[: max(0, room)])
            dropped[0] += max(0, len(chunk) - max(0, room))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    timed_out = False
    try:
        child.wait(timeout=limits.timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    _kill_group(child.pid)
    child.wait()
    reader.join(timeout=5.0)
    child.stdout.close()
    seconds = time.monotonic() - started
    output = bytes(kept).decode("utf-8", "replace")
    if timed_out:
        why = f"stopped after {limits.timeout_seconds:g} s (time limit)"
        return _Outcome(None, output, dropped[0] > 0, seconds, why)
    return _Outcome(child.returncode, output, dropped[0] > 0, seconds)


def _kill_group(pid: int) -> None:
    """Kill what is left of the run's process group (a tool's strays included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
