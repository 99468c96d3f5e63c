"""The git half of a commit, run under the branch's commit lease (services/commits.py takes
it): read the branch head, build the commit in the git cache, check the fence, push with
compare-and-swap, then have the new commit indexed.

`planned` is the commit an earlier attempt of the same idempotent request was about to push
(its record noted it before the push). The branch then tells what that attempt did: at the
base, nothing landed (the same commit is built again: same base, changes and date make the
same SHA); at `planned` or past it, the push landed, and the request is answered as if that
attempt had finished; anywhere else, the branch moved without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chalicelib import observability
from chalicelib.domain.commit_outcomes import (
    UNTRACKED,
    CommitOutcome,
    CommitResult,
    branch_moved,
)
from chalicelib.domain.commits import CommitMeta, CommitRequest
from chalicelib.domain.events import EventType
from chalicelib.domain.models import Lease, Repository
from chalicelib.errors import BranchMoved, BranchNotFound, LeaseLost, StrataError, TransientError
from chalicelib.observability import Metric
from chalicelib.ports import GitWriter, LockManager
from chalicelib.services.check_requests import CheckRequest, CheckRequests
from chalicelib.services.context import IndexPorts
from chalicelib.services.events import record
from chalicelib.services.index_requests import IndexRequests

log = logging.getLogger(__name__)

LOST_LEASE = "the commit took too long and lost its lease; retry (nothing was pushed)"
NOT_QUEUED = "committed, but its build check could not be queued: request one"


@dataclass(frozen=True)
class Attempt:
    """One attempt at a request: who it is, the date its commit carries, what an earlier
    attempt planned to push, and `plan(sha)`, which notes the commit about to be pushed
    (False: another attempt took the request over)."""

    owner: str
    started_at: float
    planned: str | None
    plan: Callable[[str], bool]


class CommitPush:
    def __init__(
        self,
        *,
        writer: GitWriter,
        locks: LockManager,
        index: IndexRequests,
        checks: CheckRequests | None,
        lease_seconds: float,
    ) -> None:
        self._writer = writer
        self._locks = locks
        self._index = index
        self._checks = checks
        self._lease_seconds = lease_seconds
        self._p = index.ports

    @property
    def ports(self) -> IndexPorts:
        return self._p

    @property
    def can_check(self) -> bool:
        """Whether a build check can be queued for a commit."""
        return self._checks is not None

    def run(
        self,
        repo: Repository,
        request: CommitRequest,
        attempt: Attempt,
        lease: Lease,
        credentials: Sequence[str | None],
    ) -> CommitOutcome:
        git, remote, branch = self._p.git, repo.remote, request.branch
        _, head = git.resolve_head(remote, branch, credentials)
        if head != request.base_sha:
            if attempt.planned and self._landed(repo, branch, attempt.planned, head, credentials):
                return self._committed(repo, request, attempt.planned)
            return self._moved(repo, request, head)
        git.fetch(remote, branch, head, credentials)
        meta = CommitMeta(request.message, request.author, request.author, int(attempt.started_at))
        sha = self._writer.write_commit(remote, head, request.changes, meta)
        if not attempt.plan(sha):
            raise TransientError("a retry of this request took it over; retry to read its answer")
        self._fence(lease)
        try:
            self._writer.push(remote, branch, head, sha, credentials)
        except BranchMoved as moved:
            current = moved.current_sha or self._head(repo, branch, credentials)
            if current is None or not self._landed(repo, branch, sha, current, credentials):
                return self._moved(repo, request, current)
        return self._committed(repo, request, sha)

    def _fence(self, lease: Lease) -> None:
        """The last word before the push: is the lease, with its fence, still ours?"""
        try:
            self._locks.heartbeat(lease, self._lease_seconds, self._p.clock.now())
        except LeaseLost as exc:
            raise TransientError(LOST_LEASE) from exc

    def _head(self, repo: Repository, branch: str, credentials: Sequence[str | None]) -> str | None:
        try:
            return self._p.git.resolve_head(repo.remote, branch, credentials)[1]
        except BranchNotFound:
            return None

    def _landed(
        self,
        repo: Repository,
        branch: str,
        sha: str,
        head: str,
        credentials: Sequence[str | None],
    ) -> bool:
        """Whether `sha` is `head` or one of its ancestors (the branch moved on after it)."""
        if sha == head:
            return True
        self._p.git.fetch(repo.remote, branch, head, credentials)
        return self._p.git.is_ancestor(repo.remote, sha, head) is True

    def _moved(
        self, repo: Repository, request: CommitRequest, current: str | None
    ) -> CommitOutcome:
        observability.count(Metric.COMMIT_CONFLICTS)
        log.info("commit to %s refused: the branch is at %s", request.branch, current)
        return branch_moved(repo.id, request.branch, request.base_sha, current)

    def _committed(self, repo: Repository, request: CommitRequest, sha: str) -> CommitOutcome:
        """The answer for a commit on the branch: its index requested (when the index
        follows this branch), its build check queued (when asked), its event recorded."""
        observability.count(Metric.COMMITS)
        tracked = repo.branch in (None, request.branch)
        status = UNTRACKED
        if tracked:
            index = self._index.request_at(repo, sha, source="commit", branch=request.branch)
            status = index.status.value
        check_id, note = self._build_check(repo, request, sha)
        data = {"sha": sha, "base": request.base_sha, "branch": request.branch}
        record(self._p, repo.id, EventType.COMMIT_PUSHED, {**data, "files": len(request.changes)})
        log.info("committed %s on %s (index: %s)", sha[:12], request.branch, status)
        return CommitOutcome(
            CommitResult.COMMITTED,
            repo.id,
            request.branch,
            request.base_sha,
            sha=sha,
            index_status=status,
            check_id=check_id,
            message=note or f"committed {sha[:12]} on {request.branch}",
        )

    def _build_check(
        self, repo: Repository, request: CommitRequest, sha: str
    ) -> tuple[str | None, str | None]:
        """A build check of the written files at the new commit (the syntax gate ran
        before the commit; a build runs in the check workers, not in this request)."""
        if request.check != "build" or self._checks is None or not request.written:
            return None, None
        paths = [c.path for c in request.written]
        try:
            check = self._checks.request(repo.id, CheckRequest("build", sha, paths))
        except StrataError as exc:
            log.warning("the build check of %s was not queued: %s", sha[:12], exc.code)
            return None, NOT_QUEUED
        return check.check_id, None
