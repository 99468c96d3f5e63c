"""Check runs: what a client asked to check, where the run stands, and the rules that decide
its outcome. Pure.

A check looks at the files of one commit at one level: `syntax` (in-process, per file) or
`build` (real toolchains over build units, domain/build_units.py). Its record moves
`queued -> running -> passed | failed | error` and never back; every ending is final.

- `passed`: every unit ran (or was reused) and no diagnostic is an error;
- `failed`: some diagnostic is an error;
- `error`: the check could not decide: a file's language has no toolchain here, a tool was
  killed (time, memory) or crashed, a named path is not in the commit, or the run itself
  failed (a message that exhausted its retries). Never a silent pass.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.repo_paths import MAX_PATH_LENGTH, repository_path
from chalicelib.errors import InvalidRequest

CheckLevel = Literal["syntax", "build"]
LEVELS: tuple[CheckLevel, ...] = ("syntax", "build")

MAX_CHECK_PATHS = 200
MAX_CHECK_PATH_LENGTH = MAX_PATH_LENGTH
CHECK_ID_PATTERN = r"^chk-[0-9]{13}-[0-9a-f]{8}$"
SHA_PATTERN = r"^[0-9a-f]{40}$"
_CHECK_ID_RE = re.compile(CHECK_ID_PATTERN)
_SHA_RE = re.compile(SHA_PATTERN)
# The diagnostics one report lists; the counts in its stats cover all of them.
MAX_REPORTED_DIAGNOSTICS = 1000


class CheckStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"

    @property
    def ended(self) -> bool:
        return self in (CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.ERROR)


UNFINISHED = (CheckStatus.QUEUED, CheckStatus.RUNNING)

# Counters a check accumulates batch by batch (CheckStore.complete_batch adds them).
COUNTERS = ("units", "reused", "tool_runs", "errors", "warnings", "undecided")


@dataclass(frozen=True)
class Check:
    """One check run of a repository at a commit."""

    repository_id: str
    check_id: str
    sha: str
    level: CheckLevel
    paths: tuple[str, ...] = ()  # () = the whole tree
    status: CheckStatus = CheckStatus.QUEUED
    created_at: float = 0.0
    updated_at: float = 0.0
    message: str | None = None
    total_batches: int = 0
    outstanding: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)  # COUNTERS, summed over batches
    stats: Mapping[str, object] = field(default_factory=dict)  # the plan's and the end's
    actor: str | None = None


def new_check_id(now: float, token: str | None = None) -> str:
    """`chk-<epoch ms, 13 digits>-<8 hex>`: ids sort by creation time."""
    return f"chk-{int(now * 1000):013d}-{token or secrets.token_hex(4)}"


def is_check_id(value: str) -> bool:
    return bool(_CHECK_ID_RE.match(value))


def validate_sha(value: object) -> str:
    if not isinstance(value, str) or not _SHA_RE.match(value):
        raise InvalidRequest("sha must be a full commit id: 40 lowercase hex digits")
    return value


def validate_level(value: object) -> CheckLevel:
    for level in LEVELS:
        if value == level:
            return level
    raise InvalidRequest("level must be 'syntax' or 'build'")


def validate_check_paths(paths: object) -> tuple[str, ...]:
    """Repository-relative paths of files or directories (`src/`, `src/a.py`), normalised
    (a trailing `/` dropped), each at most once. Refuses what could name something outside
    the tree or inside git's own data: absolute paths, `..` and `.` segments, empty
    segments, backslashes, control characters, any `.git` segment (or an alias of it on
    another file system): domain/repo_paths.py."""
    if paths is None:
        return ()
    if not isinstance(paths, list | tuple):
        raise InvalidRequest("paths must be a list of repository paths")
    if len(paths) > MAX_CHECK_PATHS:
        raise InvalidRequest(f"give at most {MAX_CHECK_PATHS} paths")
    out: list[str] = []
    for raw in paths:
        path = _check_path(raw)
        if path not in out:
            out.append(path)
    return tuple(out)


def _check_path(raw: object) -> str:
    # One set of rules for every path from outside (domain/repo_paths.py).
    return repository_path(raw, directory=True)


def path_selected(path: str, wanted: Sequence[str]) -> bool:
    """Whether a file path is one of `wanted` or under one of them (all when empty)."""
    return not wanted or any(path == w or path.startswith(w + "/") for w in wanted)


def unmatched_paths(files: Iterable[str], wanted: Sequence[str]) -> list[str]:
    """The wanted paths that name no file of the tree."""
    listed = list(files)
    return [w for w in wanted if not any(path_selected(f, [w]) for f in listed)]


def tally(diagnostics: Iterable[Diagnostic]) -> dict[str, int]:
    found = list(diagnostics)
    errors = sum(1 for d in found if d.severity == "error")
    return {"errors": errors, "warnings": len(found) - errors}


def outcome(counts: Mapping[str, int], problems: Sequence[str]) -> tuple[CheckStatus, str | None]:
    """The ending of a run whose batches are all counted: `problems` are the reasons it
    could not decide (no toolchain, unmatched paths), each already worded for users."""
    undecided = int(counts.get("undecided", 0))
    reasons = list(problems)
    if undecided:
        reasons.append(f"{undecided} build unit(s) could not be decided (killed or crashed)")
    if reasons:
        return CheckStatus.ERROR, "; ".join(reasons)
    if int(counts.get("errors", 0)) > 0:
        return CheckStatus.FAILED, None
    return CheckStatus.PASSED, None


def public_stats(check: Check) -> dict[str, object]:
    """The stats a client sees: the plan's numbers, then the counters."""
    counts = {k: int(check.counts.get(k, 0)) for k in COUNTERS}
    return {**dict(check.stats), **counts}
