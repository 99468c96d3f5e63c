"""What a commit request came to: the answer the route gives, and the form the idempotency
record keeps it in (so every retry with the same key is answered the same). Pure.

- committed: the branch moved from `base_sha` to `sha`; `index_status` says what the index
  does about it (`indexing`, `ready`, or `untracked` for a branch the index does not follow);
  `check_id` names the build check queued for it, when one was asked for.
- branch_moved: the branch was not at `base_sha` (`current_sha`, None when it is gone):
  nothing was committed.
- check_failed: the syntax check found errors in the changed files (`diagnostics`): nothing
  was committed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from chalicelib.domain.diagnostics import Diagnostic

UNTRACKED = "untracked"
MAX_COMMIT_DIAGNOSTICS = 500  # what one 422 lists (and its record keeps)


class CommitResult(StrEnum):
    COMMITTED = "committed"
    BRANCH_MOVED = "branch_moved"
    CHECK_FAILED = "check_failed"


@dataclass(frozen=True)
class CommitOutcome:
    result: CommitResult
    repository_id: str
    branch: str
    base_sha: str
    sha: str | None = None
    current_sha: str | None = None
    index_status: str | None = None
    check_id: str | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    truncated: bool = False
    message: str = ""


def check_failed(
    repository_id: str, branch: str, base_sha: str, found: list[Diagnostic]
) -> CommitOutcome:
    errors = sum(1 for d in found if d.severity == "error")
    files = len({d.path for d in found if d.severity == "error"})
    return CommitOutcome(
        CommitResult.CHECK_FAILED,
        repository_id,
        branch,
        base_sha,
        diagnostics=tuple(found[:MAX_COMMIT_DIAGNOSTICS]),
        truncated=len(found) > MAX_COMMIT_DIAGNOSTICS,
        message=f"the syntax check found {errors} error(s) in {files} file(s): nothing committed",
    )


def branch_moved(
    repository_id: str, branch: str, base_sha: str, current: str | None
) -> CommitOutcome:
    where = f"is at {current}" if current else "is gone"
    return CommitOutcome(
        CommitResult.BRANCH_MOVED,
        repository_id,
        branch,
        base_sha,
        current_sha=current,
        message=f"branch {branch!r} {where}, not at the base commit: nothing committed",
    )


def encode_outcome(outcome: CommitOutcome) -> str:
    return json.dumps(asdict(outcome), sort_keys=True)


def decode_outcome(text: str) -> CommitOutcome:
    data: dict[str, Any] = json.loads(text)
    found = tuple(Diagnostic(**d) for d in data.pop("diagnostics", ()))
    result = CommitResult(data.pop("result"))
    return CommitOutcome(result=result, diagnostics=found, **data)
