"""Use case: the scheduled sweep keeps every auto-refreshed repository fresh.

For each repository marked for automatic refresh it reads the branch head with an ls-remote
(no fetch), requests an index when the head moved, and re-enqueues a repository left
`indexing` by a job that died. It only enqueues: the index worker takes the lease as for any
other request, so the sweep needs no lock and running it twice does no harm. A failing
remote is recorded as a RefreshFailed event and the sweep goes on with the next repository.
Before the function's deadline it stops; the next run starts again from the beginning.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from chalicelib import observability
from chalicelib.domain.event_replay import requested_fields
from chalicelib.domain.events import EventType, index_failed
from chalicelib.domain.messages import IndexRepository
from chalicelib.domain.models import Repository, Status
from chalicelib.domain.sweep import SweepAction, decide_sweep, refreshes_automatically
from chalicelib.services.context import IndexConfig, IndexPorts, RemainingMillis, out_of_time
from chalicelib.services.credentials import repository_credentials
from chalicelib.services.events import record
from chalicelib.services.index_requests import IndexRequests
from chalicelib.services.job_endings import public_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepReport:
    checked: int = 0
    requested: int = 0
    requeued: int = 0
    failed: int = 0
    skipped: int = 0
    finished: bool = True

    def to_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "requested": self.requested,
            "requeued": self.requeued,
            "failed": self.failed,
            "skipped": self.skipped,
            "finished": self.finished,
        }


class Sweeper:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig, requests: IndexRequests) -> None:
        self._p = ports
        self._c = config
        self._requests = requests

    def run(self, remaining: RemainingMillis | None = None) -> SweepReport:
        counts: Counter[str] = Counter()
        finished = True
        for repo in self._p.repos.list_auto_refresh():
            if not refreshes_automatically(repo):
                counts["skipped"] += 1
                continue
            if out_of_time(remaining, self._c.deadline_margin_ms):
                finished = False
                break
            counts["checked"] += 1
            counts[self._sweep_one(repo)] += 1
        report = SweepReport(
            checked=counts["checked"],
            requested=counts[SweepAction.REQUEST],
            requeued=counts[SweepAction.REENQUEUE],
            failed=counts["failed"],
            skipped=counts["skipped"],
            finished=finished,
        )
        log.info("sweep: %s", report.to_dict())
        return report

    def _sweep_one(self, repo: Repository) -> str:
        """The action taken, or "failed"; never raises, so one remote cannot stop the sweep."""
        with observability.scope("sweep", repositoryId=repo.id):
            try:
                return self._refresh(repo)
            except Exception as exc:
                log.warning("sweep of %s failed", repo.id, exc_info=True)
                failure = index_failed(repo.requested_sha or repo.indexed_sha, public_message(exc))
                record(self._p, repo.id, EventType.REFRESH_FAILED, failure)
                return "failed"

    def _refresh(self, repo: Repository) -> SweepAction:
        credentials = repository_credentials(self._p, self._c, repo)
        branch, head = self._p.git.resolve_head(repo.remote, repo.branch, credentials)
        lease = self._p.locks.get(repo.id) if repo.status is Status.INDEXING else None
        now = self._p.clock.now()
        decision = decide_sweep(repo, head, lease, now, self._c.lease_seconds)
        if decision.action is SweepAction.REQUEST:
            self._requests.request_at(repo, head, source="sweep", branch=branch)
        elif decision.action is SweepAction.REENQUEUE:
            self._p.queue.send(IndexRepository(repository_id=repo.id, force=repo.force_requested))
            data = {
                "sha": repo.requested_sha,
                "source": "sweep",
                "force": repo.force_requested,
                **requested_fields(repo),  # unchanged: a replay keeps them (ADR 23)
            }
            record(self._p, repo.id, EventType.INDEX_REQUESTED, {**data, "reason": decision.reason})
        return decision.action
