"""Use case: a check batch finds or makes its units' results, and the last batch ends the run.

Results are content-addressed (ADR 21): a batch whose bundle exists costs one GET; otherwise
each unit's result is looked up by its key and only the missing ones are made, syntax units
in process, build units through the Toolchain port, from the bytes the planner staged. A made
result is stored under its key (`if_absent`: two checks making it at once agree), unless it
did not decide (a tool killed for time or memory) or depends on the clock (the syntax
parser's time budget ran out): those are never reused.

Each batch writes its run's outcome object and is counted once on the record (its counters
added); the batch that leaves nothing outstanding assembles the report (diagnostics ordered,
at most MAX_REPORTED_DIAGNOSTICS) and ends the record passed, failed or error
(domain/checks.outcome). A redelivered last batch finalizes again: every step is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from chalicelib.domain.check_codecs import (
    CheckReport,
    decode_bundle,
    decode_plan,
    decode_result,
    encode_bundle,
    encode_report,
    encode_result,
)
from chalicelib.domain.check_plan import (
    SYNTAX_TOOL,
    BuildRun,
    CheckPlan,
    CheckUnit,
    UnitResult,
    bundle_key,
    ordered,
    run_outcome_key,
    run_plan_key,
    run_prefix,
    run_report_key,
    staging_key,
    with_paths,
)
from chalicelib.domain.checks import MAX_REPORTED_DIAGNOSTICS, CheckStatus, outcome, tally
from chalicelib.domain.codecs import decode_batch
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.ids import storage_key
from chalicelib.domain.messages import CheckBatch
from chalicelib.errors import MalformedMessage, NotFound, PermanentError
from chalicelib.ports import BlobStore, CheckStore, Clock, Toolchain
from chalicelib.services.blob_reads import stored

log = logging.getLogger(__name__)

_IO_THREADS = 8
_CLOCK_BOUND = "not checked: the parser gave up"  # parsers/syntax.py's time-budget warning
STAGING_GONE = "the files staged for this check are gone; request the check again"


class CheckBatches:
    def __init__(
        self,
        *,
        blobs: BlobStore,
        checks: CheckStore,
        clock: Clock,
        toolchain: Toolchain,
        syntax: Callable[[str, bytes], list[Diagnostic]],
    ) -> None:
        self._blobs = blobs
        self._checks = checks
        self._clock = clock
        self._tools = toolchain
        self._syntax = syntax

    def run(self, msg: CheckBatch) -> None:
        check = self._checks.get(msg.repository_id, msg.check_id)
        if check is None or check.status is not CheckStatus.RUNNING:
            log.info("batch %d of check %s is no longer needed", msg.batch, msg.check_id)
            return
        prefix = run_prefix(storage_key(msg.repository_id), msg.check_id)
        plan = self._plan(prefix)
        if not 0 <= msg.batch < len(plan.batches):
            raise MalformedMessage(f"check {msg.check_id} has no batch {msg.batch}")
        units = plan.batches[msg.batch]
        results, reused, ran = self._results(msg, units)
        self._blobs.put(run_outcome_key(prefix, msg.batch), encode_bundle(results))
        found = [d for u in units for d in with_paths(u, results[u.key].diagnostics)]
        counts = {
            "units": len(units),
            "reused": reused,
            "tool_runs": ran,
            "undecided": sum(1 for u in units if not results[u.key].decided),
            **tally(found),
        }
        now = self._clock.now()
        outstanding = self._checks.complete_batch(
            msg.repository_id, msg.check_id, msg.batch, counts=counts, now=now
        )
        if outstanding is None:  # counted before: finalize again if the first one died
            current = self._checks.get(msg.repository_id, msg.check_id)
            running = current is not None and current.status is CheckStatus.RUNNING
            outstanding = current.outstanding if current is not None and running else -1
        if outstanding == 0:
            self.finalize(msg.repository_id, msg.check_id, plan)

    def _plan(self, prefix: str) -> CheckPlan:
        try:
            return decode_plan(self._blobs.get(run_plan_key(prefix)))
        except NotFound as exc:
            raise PermanentError("the check's plan is missing") from exc

    def _results(
        self, msg: CheckBatch, units: Sequence[CheckUnit]
    ) -> tuple[dict[str, UnitResult], int, int]:
        """Every unit's result (by key), how many were reused and how many made now."""
        bundle = bundle_key(units)
        bundled = stored(self._blobs, bundle)
        if bundled is not None:
            return decode_bundle(bundled), len(units), 0
        with ThreadPoolExecutor(min(_IO_THREADS, len(units))) as pool:
            looked = list(pool.map(self._stored, [u.key for u in units]))
        results = {u.key: r for u, r in zip(units, looked, strict=True) if r is not None}
        missing = [u for u in units if u.key not in results]
        made = self._make(msg, missing) if missing else {}
        for unit in missing:
            if _reusable(made[unit.key]):
                self._blobs.put(unit.key, encode_result(made[unit.key]), if_absent=True)
        results |= made
        if all(_reusable(r) for r in results.values()):
            self._blobs.put(bundle, encode_bundle(results), if_absent=True)
        return results, len(units) - len(missing), len(missing)

    def _stored(self, key: str) -> UnitResult | None:
        try:
            return decode_result(self._blobs.get(key))
        except (NotFound, ValueError):
            return None

    def _make(self, msg: CheckBatch, units: Sequence[CheckUnit]) -> dict[str, UnitResult]:
        try:
            staged = decode_batch(self._blobs.get(staging_key(msg.check_id, msg.batch)))
        except NotFound as exc:
            raise PermanentError(STAGING_GONE) from exc
        files = {planned.path: data for planned, data in staged}
        made: dict[str, UnitResult] = {}
        builds: list[CheckUnit] = []
        for unit in units:
            if unit.refused:
                made[unit.key] = UnitResult(unit.refused)
            elif unit.tool == SYNTAX_TOOL:
                made[unit.key] = self._syntax_result(unit, files)
            else:
                builds.append(unit)
        if builds:
            runs = [BuildRun(u.tool, u.root, u.subjects, _closure(u, files)) for u in builds]
            for unit, result in zip(builds, self._tools.run(runs), strict=True):
                made[unit.key] = result
        return made

    def _syntax_result(self, unit: CheckUnit, files: Mapping[str, bytes]) -> UnitResult:
        path = unit.subjects[0]
        found = self._syntax(path, _closure(unit, files)[path])
        # Stored without the path: the same blob at any path is the same result.
        return UnitResult(tuple(_path_free(d) for d in found))

    def finalize(self, repository_id: str, check_id: str, plan: CheckPlan | None = None) -> None:
        """Assemble the report from every batch's outcome and end the record."""
        prefix = run_prefix(storage_key(repository_id), check_id)
        plan = plan or self._plan(prefix)
        diagnostics: list[Diagnostic] = []
        checked: set[str] = set()
        undecided: set[str] = set()
        for n, units in enumerate(plan.batches):
            results = decode_bundle(self._blobs.get(run_outcome_key(prefix, n)))
            for unit in units:
                result = results[unit.key]
                diagnostics += with_paths(unit, result.diagnostics)
                (checked if result.decided else undecided).update(unit.subjects)
        found = ordered(diagnostics)
        report = CheckReport(
            tuple(sorted(checked - undecided)),
            tuple(found[:MAX_REPORTED_DIAGNOSTICS]),
            len(found) > MAX_REPORTED_DIAGNOSTICS,
            tuple(sorted(undecided)),
        )
        self._blobs.put(run_report_key(prefix), encode_report(report))
        check = self._checks.get(repository_id, check_id)
        if check is None or check.status.ended:
            return
        status, message = outcome(check.counts, plan.problems)
        now = self._clock.now()
        if self._checks.finish(repository_id, check_id, status, message=message, now=now):
            log.info("check %s %s: %d diagnostics", check_id, status.value, len(found))


def _closure(unit: CheckUnit, files: Mapping[str, bytes]) -> dict[str, bytes]:
    try:
        return {path: files[path] for path, _ in unit.closure}
    except KeyError as exc:
        raise PermanentError(STAGING_GONE) from exc


def _path_free(d: Diagnostic) -> Diagnostic:
    return Diagnostic("", d.line, d.column, d.end_line, d.end_column, d.severity, d.message, d.tool)


def _reusable(result: UnitResult) -> bool:
    """Stored by content only when decided and not bound to this machine's clock."""
    return result.decided and not any(
        d.message.startswith(_CLOCK_BOUND) for d in result.diagnostics
    )
