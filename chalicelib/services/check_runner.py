"""Use case: the check worker plans a check run, stages its batches, and routes its messages.

PlanCheck: read the tree at the check's SHA (git, like the index planner; ADR 3), decide the
units and batches (domain/check_plan.py), store the plan, move the record queued -> running
with its fan-out size, then per batch: stage the bytes its units read unless the batch's
bundle exists (an unchanged batch needs nothing), and enqueue a CheckBatch. A deadline stop
re-enqueues PlanCheck from the next batch; a redelivery reuses the stored plan and stages
again (a duplicate CheckBatch is counted once).

No repository lease: a check publishes nothing on the repository item and must neither wait
for nor hold back indexing. Its own record is fenced by conditional transitions instead.

Every path that gives up ends the record in `error` with a message for users: a permanent
failure here (the commit is not on the branch, the repository is gone), or a message that
exhausted its retries (`dead_letter`, from the check DLQ's consumer).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from chalicelib.domain.check_codecs import decode_plan, encode_plan
from chalicelib.domain.check_plan import (
    CheckPlan,
    PlanInputs,
    bundle_key,
    plan_check,
    run_plan_key,
    run_prefix,
    staged_paths,
    staging_key,
)
from chalicelib.domain.checks import Check, CheckStatus
from chalicelib.domain.codecs import encode_batch
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.ids import storage_key
from chalicelib.domain.languages import language_for
from chalicelib.domain.messages import CheckBatch, Message, PlanCheck
from chalicelib.domain.models import Repository
from chalicelib.domain.planning import PlannedFile
from chalicelib.errors import MalformedMessage, is_permanent
from chalicelib.parsers.syntax import syntax_checkable, syntax_diagnostics
from chalicelib.ports import CheckStore, Toolchain
from chalicelib.services.blob_reads import stored
from chalicelib.services.check_batches import CheckBatches
from chalicelib.services.context import IndexConfig, IndexPorts, RemainingMillis, out_of_time
from chalicelib.services.credentials import repository_credentials
from chalicelib.services.job_endings import public_message

log = logging.getLogger(__name__)

SYNTAX_REVISION = "1"  # bump when parsers/syntax.py changes what it reports
RETRIES_EXHAUSTED = "the check failed after repeated attempts; request it again to retry"
REPOSITORY_GONE = "the repository is no longer registered"
SyntaxCheck = Callable[[str, bytes], list[Diagnostic]]


@dataclass(frozen=True)
class CheckConfig:
    max_file_bytes: int = 1024 * 1024
    batch_units: int = 32
    batch_bytes: int = 8 * 1024 * 1024
    deadline_margin_ms: int = 15_000


@cache
def syntax_version() -> str:
    """The syntax checker's id in content addresses: our revision, the Python that runs
    compile() and every tree-sitter package's version."""
    grammars = sorted(
        f"{d.metadata['Name']}=={d.version}"
        for d in metadata.distributions()
        if str(d.metadata["Name"] or "").lower().replace("_", "-").startswith("tree-sitter")
    )
    import hashlib

    listing = "\n".join([SYNTAX_REVISION, sys.version.split()[0], *grammars])
    return f"s{SYNTAX_REVISION}-{hashlib.sha256(listing.encode()).hexdigest()[:20]}"


class CheckRunner:
    def __init__(
        self,
        *,
        ports: IndexPorts,
        config: IndexConfig,
        checks: CheckStore,
        toolchain: Toolchain,
        settings: CheckConfig,
        syntax: SyntaxCheck = syntax_diagnostics,
    ) -> None:
        self._p = ports
        self._c = config
        self._checks = checks
        self._tools = toolchain
        self._s = settings
        self.batches = CheckBatches(
            blobs=ports.blobs, checks=checks, clock=ports.clock, toolchain=toolchain, syntax=syntax
        )

    def handle(
        self, message: Message, queue: str, remaining: RemainingMillis | None = None
    ) -> None:
        if queue != "check" or not isinstance(message, PlanCheck | CheckBatch):
            raise MalformedMessage(f"{message.type} does not belong on the {queue} queue")
        try:
            if isinstance(message, PlanCheck):
                self.plan(message, remaining)
            else:
                self.batches.run(message)
        except Exception as exc:
            if not is_permanent(exc):
                raise  # retried by SQS, then the DLQ's consumer ends the check
            log.warning("%s of check %s failed for good", message.type, message.check_id)
            self._end(message, _public(exc))

    def dead_letter(self, message: Message, queue: str) -> None:
        """`message` exhausted its retries on the check queue: end its check."""
        if queue != "check" or not isinstance(message, PlanCheck | CheckBatch):
            raise MalformedMessage(f"{message.type} does not belong on the {queue} queue")
        if not self._end(message, RETRIES_EXHAUSTED):
            log.info("dead letter for check %s, which has ended already", message.check_id)

    def _end(self, message: PlanCheck | CheckBatch, why: str) -> bool:
        now = self._p.clock.now()
        return self._checks.finish(
            message.repository_id, message.check_id, CheckStatus.ERROR, message=why, now=now
        )

    # --- planning ----------------------------------------------------------------------

    def plan(self, msg: PlanCheck, remaining: RemainingMillis | None = None) -> None:
        check = self._checks.get(msg.repository_id, msg.check_id)
        if check is None or check.status.ended:
            log.info("check %s is not waiting for a plan", msg.check_id)
            return
        repo = self._p.repos.get(check.repository_id)
        if repo is None or not repo.remote:
            self._end(msg, REPOSITORY_GONE)
            return
        prefix = run_prefix(storage_key(check.repository_id), check.check_id)
        self._fetch(repo, check)
        plan = self._stored_plan(prefix) or self._make_plan(repo, check, prefix)
        now = self._p.clock.now()
        total = len(plan.batches)
        stats = {**plan.stats, "problems": list(plan.problems)}
        started = self._checks.start(
            check.repository_id, check.check_id, total_batches=total, stats=stats, now=now
        )
        if started:
            log.info("check %s: %d batches at %s", check.check_id, total, check.sha[:12])
        if not plan.batches:
            self.batches.finalize(check.repository_id, check.check_id)
            return
        self._stage(repo, check, plan, msg.start, remaining)

    def _fetch(self, repo: Repository, check: Check) -> None:
        credentials = repository_credentials(self._p, self._c, repo)
        self._p.git.fetch(repo.remote, repo.branch or "main", check.sha, credentials)

    def _stored_plan(self, prefix: str) -> CheckPlan | None:
        data = stored(self._p.blobs, run_plan_key(prefix))
        return None if data is None else decode_plan(data)

    def _make_plan(self, repo: Repository, check: Check, prefix: str) -> CheckPlan:
        entries = list(self._p.git.list_tree(repo.remote, check.sha))
        oids = {e.path: e.oid for e in entries}
        tools = dict(self._tools.versions()) if check.level == "build" else {}
        inputs = PlanInputs(
            level=check.level,
            wanted=check.paths,
            max_file_bytes=self._s.max_file_bytes,
            batch_units=self._s.batch_units,
            batch_bytes=self._s.batch_bytes,
            syntax_version=syntax_version(),
            checkable=syntax_checkable,
            tools=tools,
        )
        plan = plan_check(entries, inputs, lambda p: self._p.git.read_blob(repo.remote, oids[p]))
        self._p.blobs.put(run_plan_key(prefix), encode_plan(plan))
        return plan

    def _stage(
        self,
        repo: Repository,
        check: Check,
        plan: CheckPlan,
        start: int,
        remaining: RemainingMillis | None,
    ) -> None:
        for n in range(start, len(plan.batches)):
            if n > start and out_of_time(remaining, self._s.deadline_margin_ms):
                self._p.queue.send(PlanCheck(check.repository_id, check.check_id, n))
                return
            units = plan.batches[n]
            if not self._p.blobs.exists(bundle_key(units)):
                wanted = staged_paths(u for u in units if not u.refused)
                files = [PlannedFile(p, oid, language_for(p), 0) for p, oid in wanted.items()]
                contents = {oid: self._p.git.read_blob(repo.remote, oid) for oid in wanted.values()}
                staged = encode_batch(files, contents)
                self._p.blobs.put(staging_key(check.check_id, n), staged)
            self._p.queue.send(CheckBatch(check.repository_id, check.check_id, n))


def _public(exc: BaseException) -> str:
    """What a user may read about why a check could not run."""
    message = public_message(exc)
    return "the check failed" if message == "indexing failed" else message
