"""In-memory fakes of the CheckStore and Toolchain ports. FakeCheckStore follows
DynamoCheckStore exactly (tests/contract/test_check_contracts.py holds both to it)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace

from chalicelib.domain.check_plan import BuildRun, UnitResult
from chalicelib.domain.checks import COUNTERS, UNFINISHED, Check, CheckStatus
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.errors import AlreadyExists


class FakeCheckStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Check] = {}
        self.done: dict[tuple[str, str], set[int]] = {}
        self._lock = threading.Lock()

    def create(self, check: Check) -> None:
        key = (check.repository_id, check.check_id)
        with self._lock:
            if key in self.items:
                raise AlreadyExists(f"check {check.check_id} exists already")
            updated = check.updated_at or check.created_at
            self.items[key] = replace(check, counts=dict.fromkeys(COUNTERS, 0), updated_at=updated)

    def get(self, repository_id: str, check_id: str) -> Check | None:
        return self.items.get((repository_id, check_id))

    def recent(self, repository_id: str, limit: int) -> list[Check]:
        mine = [c for (rid, _), c in self.items.items() if rid == repository_id]
        return sorted(mine, key=lambda c: c.check_id, reverse=True)[:limit]

    def start(
        self,
        repository_id: str,
        check_id: str,
        *,
        total_batches: int,
        stats: Mapping[str, object],
        now: float,
    ) -> bool:
        key = (repository_id, check_id)
        with self._lock:
            check = self.items.get(key)
            if check is None or check.status is not CheckStatus.QUEUED:
                return False
            self.items[key] = replace(
                check,
                status=CheckStatus.RUNNING,
                total_batches=total_batches,
                outstanding=total_batches,
                stats=dict(stats),
                updated_at=now,
            )
            return True

    def complete_batch(
        self,
        repository_id: str,
        check_id: str,
        batch: int,
        *,
        counts: Mapping[str, int],
        now: float,
    ) -> int | None:
        key = (repository_id, check_id)
        with self._lock:
            check = self.items.get(key)
            done = self.done.setdefault(key, set())
            if check is None or check.status is not CheckStatus.RUNNING or batch in done:
                return None
            done.add(batch)
            summed = {k: check.counts.get(k, 0) + int(counts.get(k, 0)) for k in COUNTERS}
            self.items[key] = replace(
                check, outstanding=check.outstanding - 1, counts=summed, updated_at=now
            )
            return check.outstanding - 1

    def finish(
        self,
        repository_id: str,
        check_id: str,
        status: CheckStatus,
        *,
        message: str | None,
        now: float,
    ) -> bool:
        key = (repository_id, check_id)
        with self._lock:
            check = self.items.get(key)
            if check is None or check.status not in UNFINISHED:
                return False
            self.items[key] = replace(check, status=status, message=message, updated_at=now)
            return True


class FakeToolchain:
    """Tools that report an error on every line holding `ERROR` in the files they decide,
    and count what they ran. `slow` tools do not decide (as if killed for time)."""

    def __init__(
        self, versions: Mapping[str, str] | None = None, *, slow: Sequence[str] = ()
    ) -> None:
        self._versions = dict(versions or {"py_compile": "fake-1", "gcc": "fake-1"})
        self._slow = set(slow)
        self.runs: list[BuildRun] = []

    def versions(self) -> Mapping[str, str]:
        return dict(self._versions)

    def run(self, runs: Sequence[BuildRun]) -> list[UnitResult]:
        self.runs += runs
        return [self._one(r) for r in runs]

    def _one(self, run: BuildRun) -> UnitResult:
        if run.tool in self._slow:
            why = Diagnostic(run.subjects[0], 1, 1, 1, 1, "error", "not decided: slow", run.tool)
            return UnitResult((why,), decided=False)
        found = []
        for path in run.subjects:
            for n, line in enumerate(run.files[path].split(b"\n"), start=1):
                if b"ERROR" in line:
                    found.append(Diagnostic(path, n, 1, n, 6, "error", "ERROR found", run.tool))
        return UnitResult(tuple(found))
