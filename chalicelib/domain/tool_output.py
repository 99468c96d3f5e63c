"""Diagnostics from what real toolchains print. Pure: text in, `Diagnostic`s out.

Every parser gets the unit's files (repository path -> bytes) and the scratch directory the
tool ran in. Positions become Strata's (1-based lines, 1-based character columns, exclusive
ends; chalicelib.domain.diagnostics): gcc's and py_compile's byte columns are converted with
the file's bytes, Lean's 0-based columns shifted. A location outside the unit's files (a
system header, a toolchain file) is never shown: the finding is put on the unit's first
file with a generic message, so no server path or file content leaves through a message.
The scratch directory is removed from every message.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.diagnostics import Diagnostic, Severity, TextPositions, character_count

MAX_MESSAGE = 500
Position = tuple[int, int]  # (line, column)
OUTSIDE = "a finding in a file outside the repository (a system or toolchain file)"


@dataclass(frozen=True)
class ToolRun:
    """What the parser knows about one run."""

    tool: str
    files: Mapping[str, bytes]  # the unit's closure, by repository path
    scratch: str  # where the tool ran (absolute); removed from paths and messages
    subject: str  # the unit's first file: where an unplaceable finding goes
    root: str = ""  # the directory the tool ran in, relative to the repository ("" = root)

    def path(self, raw: str) -> str | None:
        """The repository path a tool named, or None when it is not one of the unit's."""
        text = raw.strip()
        if text.startswith(self.scratch + "/"):
            text = text[len(self.scratch) + 1 :]
        elif not text.startswith("/"):
            text = posixpath.join(self.root, text) if self.root else text
        else:
            return None
        normal = posixpath.normpath(text)
        return normal if normal in self.files else None

    def clean(self, message: str) -> str:
        text = message.replace(self.scratch + "/", "").replace(self.scratch, ".").strip()
        return text[:MAX_MESSAGE]

    def at(
        self,
        raw_path: str | None,
        start: Position,
        end: Position | None,
        severity: Severity,
        message: str,
    ) -> Diagnostic:
        """A diagnostic at a character position (ends default to one character)."""
        path = self.path(raw_path) if raw_path is not None else self.subject
        return self._make(path, start, end, severity, message)

    def _make(
        self,
        path: str | None,
        start: Position,
        end: Position | None,
        severity: Severity,
        message: str,
    ) -> Diagnostic:
        if path is None:
            return Diagnostic(self.subject, 1, 1, 1, 1, severity, OUTSIDE, self.tool)
        line, column = max(1, start[0]), max(1, start[1])
        end_line, end_column = end if end is not None else (line, column + 1)
        end_line, end_column = max((end_line, end_column), (line, column))
        return Diagnostic(
            path, line, column, end_line, end_column, severity, self.clean(message), self.tool
        )

    def at_bytes(
        self,
        raw_path: str,
        start: Position,
        end: Position | None,
        severity: Severity,
        message: str,
    ) -> Diagnostic:
        """A diagnostic at (line, 1-based byte column); `end` (line, byte column) is
        inclusive of the character starting there (gcc's `finish`) when given."""
        line, byte_column = start
        path = self.path(raw_path)
        if path is None:
            return self._make(None, (line, 1), None, severity, message)
        positions = TextPositions(self.files[path])
        first = positions.row_position(line - 1, max(0, byte_column - 1))
        stop = None
        if end is not None:
            last_line, last_column = positions.row_position(end[0] - 1, max(0, end[1] - 1))
            stop = (last_line, last_column + 1)
        return self._make(path, first, stop, severity, message)

    def whole_line(self, raw_path: str, line: int, severity: Severity, message: str) -> Diagnostic:
        path = self.path(raw_path)
        data = self.files.get(path or "", b"")
        lines = data.split(b"\n")
        width = character_count(lines[line - 1]) if 0 < line <= len(lines) else 0
        return self._make(path, (line, 1), (line, width + 1), severity, message)


def _severity(kind: str) -> Severity | None:
    kind = kind.lower()
    if "error" in kind:
        return "error"
    if "warning" in kind:
        return "warning"
    return None  # notes, help


# --- gcc / g++: -fdiagnostics-format=json -fdiagnostics-column-unit=byte ----------------------

_GCC_TEXT = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>[a-z ]+): (?P<msg>.*)$", re.M
)


def gcc_diagnostics(output: str, run: ToolRun) -> list[Diagnostic]:
    found = [d for chunk in _json_arrays(output) for item in chunk if (d := _gcc_item(item, run))]
    if not found:  # a driver error printed as text (cc1: fatal error: ...)
        for m in _GCC_TEXT.finditer(output):
            severity = _severity(m["sev"])
            if severity is not None:
                start = (int(m["line"]), int(m["col"]))
                found.append(run.at_bytes(m["path"], start, None, severity, m["msg"]))
    return found


# What gcc says of a header checked on its own (every header is a unit): not a finding.
_GCC_STANDALONE_HEADER = "#pragma once in main file"


def _gcc_item(item: Mapping[str, Any], run: ToolRun) -> Diagnostic | None:
    severity = _severity(str(item.get("kind", "")))
    message = str(item.get("message", ""))
    if severity is None or message == _GCC_STANDALONE_HEADER:
        return None
    try:
        where = item["locations"][0]
        caret = where.get("start") or where["caret"]
        finish = where.get("finish")
        end = (int(finish["line"]), int(finish["byte-column"])) if finish else None
        start = (int(caret["line"]), int(caret["byte-column"]))
        return run.at_bytes(str(caret["file"]), start, end, severity, message)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return run.at(None, (1, 1), None, severity, message)


def _json_arrays(output: str) -> Iterator[list[dict[str, Any]]]:
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, list):
                yield [v for v in value if isinstance(v, dict)]


# --- py_compile (the driver prints one JSON object per failed file) --------------------------


def py_compile_diagnostics(output: str, run: ToolRun) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for line in output.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict) or "path" not in item:
            continue
        found.append(_py_compile_one(item, run))
    return found


def _py_compile_one(item: Mapping[str, object], run: ToolRun) -> Diagnostic:
    raw, message = str(item["path"]), str(item.get("msg") or "invalid syntax")
    path = run.path(raw)
    data = run.files.get(path or "", b"")
    if item.get("line") is None:  # compile refused the whole text (a NUL byte)
        nul = data.find(b"\0")
        if nul >= 0:
            line, column = TextPositions(data).position(nul)
            return run.at(raw, (line, column), None, "error", message)
        return run.at(raw, (1, 1), None, "error", message)
    line, offset = _int(item.get("line"), 1), _int(item.get("offset"), 1)
    end_line, end_offset = _int(item.get("end_line"), 0), _int(item.get("end_offset"), 0)
    if path is None:
        return run.at(raw, (line, 1), None, "error", message)
    positions = TextPositions(data)
    start = positions.row_position(line - 1, max(0, offset - 1))
    end = None
    if end_line >= line and end_offset > 0:
        end = positions.row_position(end_line - 1, max(0, end_offset - 1))
        if end <= start:
            end = None
    return run.at(raw, start, end, "error", message)


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# --- node --check ------------------------------------------------------------------------------

_NODE_HEAD = re.compile(r"^(?P<path>.+):(?P<line>\d+)$")
_NODE_ERROR = re.compile(r"^(?P<kind>[A-Za-z]*Error): (?P<msg>.*)$")


def node_diagnostics(output: str, run: ToolRun) -> list[Diagnostic]:
    lines = output.splitlines()
    for i, text in enumerate(lines):
        head = _NODE_HEAD.match(text)
        if head is None:
            continue
        caret = next((ln for ln in lines[i + 1 : i + 3] if ln.strip().startswith("^")), None)
        error = next((m for m in map(_NODE_ERROR.match, lines[i + 1 :]) if m), None)
        message = f"{error['kind']}: {error['msg']}" if error else "syntax error"
        line = int(head["line"])
        if caret is None:
            return [run.at(head["path"], (line, 1), None, "error", message)]
        column = caret.index("^") + 1
        width = len(caret.strip())
        return [run.at(head["path"], (line, column), (line, column + width), "error", message)]
    return []


# --- javac (plain), tsc (--pretty false), bash -n, lake -------------------------------------

_JAVAC = re.compile(r"^(?P<path>[^\n]+?\.java):(?P<line>\d+): (?P<sev>error|warning): (?P<msg>.*)$")


def javac_diagnostics(output: str, run: ToolRun) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    lines = output.splitlines()
    for i, text in enumerate(lines):
        m = _JAVAC.match(text)
        if m is None:
            continue
        line, severity = int(m["line"]), _severity(m["sev"]) or "error"
        caret = next((ln for ln in lines[i + 1 : i + 3] if ln.strip() == "^"), None)
        column = caret.index("^") + 1 if caret is not None else 1
        found.append(run.at(m["path"], (line, column), None, severity, m["msg"]))
    return found


_TSC = re.compile(
    r"^(?P<path>[^\n(]+)\((?P<line>\d+),(?P<col>\d+)\): "
    r"(?P<sev>error|warning) (?P<code>TS\d+): (?P<msg>.*)$",
    re.M,
)


def tsc_diagnostics(output: str, run: ToolRun) -> list[Diagnostic]:
    return [
        run.at(m["path"], (int(m["line"]), int(m["col"])), None, _severity(m["sev"]) or "error",
               f"{m['code']}: {m['msg']}")
        for m in _TSC.finditer(output)
    ]  # fmt: skip


_BASH = re.compile(r"^(?P<path>[^\n]+?): line (?P<line>\d+): (?P<msg>.*)$", re.M)


def bash_diagnostics(output: str, run: ToolRun) -> list[Diagnostic]:
    return [
        run.whole_line(m["path"], int(m["line"]), "error", m["msg"])
        for m in _BASH.finditer(output)
        if not m["msg"].startswith("`")  # bash echoes the offending line after the error
    ]


_LEAN = re.compile(
    r"^(?:(?P<pre>error|warning): )?(?P<path>[^\n:]+\.lean):(?P<line>\d+):(?P<col>\d+): "
    r"(?:(?P<sev>error|warning): )?(?P<msg>.*)$",
    re.M,
)


def lake_diagnostics(output: str, run: ToolRun) -> list[Diagnostic]:
    found = []
    for m in _LEAN.finditer(output):
        severity = _severity(m["sev"] or m["pre"] or "error") or "error"
        found.append(
            run.at(m["path"], (int(m["line"]), int(m["col"]) + 1), None, severity, m["msg"])
        )
    return found


# --- cargo check --message-format=json -----------------------------------------------------------


def cargo_diagnostics(output: str, run: ToolRun) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    manifest = "Cargo.toml"  # tools name paths from where they ran: the unit's root
    own: list[Diagnostic] = []
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("{"):
            found += _cargo_message(text, run, manifest)
        elif text.startswith("error"):  # cargo's own errors (a bad manifest), on stderr
            own.append(run.at(manifest, (1, 1), None, "error", text.removeprefix("error: ")))
    return found or own  # with the compiler's, cargo's "could not compile" adds nothing


def _cargo_message(text: str, run: ToolRun, manifest: str) -> list[Diagnostic]:
    try:
        item = json.loads(text)
    except ValueError:
        return []
    message = item.get("message") if isinstance(item, dict) else None
    if not isinstance(message, dict) or item.get("reason") != "compiler-message":
        return []
    severity = _severity(str(message.get("level", "")))
    if severity is None or str(message.get("level")).startswith("failure"):
        return []
    spans = [s for s in message.get("spans") or [] if isinstance(s, dict) and s.get("is_primary")]
    words = str(message.get("message", ""))
    if not spans:
        return [run.at(manifest, (1, 1), None, severity, words)]
    s = spans[0]
    end = (int(s["line_end"]), int(s["column_end"]))
    return [
        run.at(
            str(s["file_name"]),
            (int(s["line_start"]), int(s["column_start"])),
            end,
            severity,
            words,
        )
    ]


Parser = Callable[[str, ToolRun], list[Diagnostic]]
PARSERS: dict[str, Parser] = {
    "gcc": gcc_diagnostics,
    "g++": gcc_diagnostics,
    "py_compile": py_compile_diagnostics,
    "node-check": node_diagnostics,
    "javac": javac_diagnostics,
    "tsc": tsc_diagnostics,
    "bash-n": bash_diagnostics,
    "lake": lake_diagnostics,
    "cargo": cargo_diagnostics,
}


def tool_diagnostics(output: str, run: ToolRun, exit_code: int) -> list[Diagnostic]:
    """Everything the tool reported; a failing exit with nothing parsed becomes one error on
    the unit's first file carrying the output's last line (a tool's crash is not a pass)."""
    found = PARSERS[run.tool](output, run)
    if exit_code != 0 and not any(d.severity == "error" for d in found):
        tail = next((ln for ln in reversed(output.splitlines()) if ln.strip()), "")
        why = f"{run.tool} failed (exit {exit_code})" + (f": {run.clean(tail)}" if tail else "")
        found.append(run.at(None, (1, 1), None, "error", why))
    return found
