"""How an index job ends, and the one place that ends it in failure.

Every path that gives up on a job comes to `fail_job`: a permanent error in any worker, a
message that exhausted its retries (the DLQ consumers), a corrupt staged object. Ending is
fenced: the repository item is marked `error` only while the job's lease still holds and
the item still asks for the job's SHA. When the repository has moved on (a newer job took
the lease, or a newer SHA was requested), the failure is only recorded: the job's state and
an IndexFailed event. Then the lease is released and the item looked at again, so a request
acknowledged while the job held the lease is built now (`finish_lease`).

Messages stored on the repository and in events come from `public_message`: never raw
exception text, a path, a remote URL, an S3 key or a token (those stay in the logs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chalicelib import observability
from chalicelib.domain.events import EventType, index_failed
from chalicelib.domain.messages import IndexRepository
from chalicelib.domain.models import Job, JobState, Lease
from chalicelib.errors import (
    AccessDenied,
    BranchNotFound,
    CommitNotOnBranch,
    InvalidRequest,
    LeaseHeld,
    LeaseLost,
    MalformedMessage,
    NotFound,
    RemoteNotFound,
    RemoteRefused,
    RepositoryUnreadable,
    StrataError,
    TransientError,
)
from chalicelib.observability import Metric
from chalicelib.services.context import IndexPorts
from chalicelib.services.events import record

log = logging.getLogger(__name__)

RUNNING = (JobState.PLANNING, JobState.PARSING, JobState.FINALIZING, JobState.EMBEDDING)
ENDED = (JobState.PUBLISHED, JobState.FAILED, JobState.SUPERSEDED)

# Errors whose message the raiser wrote for users (see errors.py).
_USER_FACING: tuple[type[StrataError], ...] = (
    BranchNotFound,
    CommitNotOnBranch,
    RemoteRefused,
    RepositoryUnreadable,
)
RETRIES_EXHAUSTED = (
    "indexing failed after repeated attempts (a temporary failure kept recurring); "
    "request the index again to retry"
)
_BY_TYPE: tuple[tuple[type[BaseException], str], ...] = (
    (RemoteNotFound, "the remote repository was not found"),
    (AccessDenied, "the remote refused the credentials offered (is the repository private?)"),
    (MalformedMessage, "an internal message could not be read"),
    (InvalidRequest, "the repository's remote, branch or commit is not valid"),
    (NotFound, "an object of the index being built is missing"),
    (ValueError, "an object of the index being built is corrupt"),
    (TransientError, "the remote repository or a storage service could not be reached"),
)


def public_message(exc: BaseException) -> str:
    """What a user may read about a failure (stored as `error`, shown in events)."""
    if isinstance(exc, _USER_FACING):
        return exc.message
    for kind, message in _BY_TYPE:
        if isinstance(exc, kind):
            return message
    return "indexing failed"


def fail_job(
    ports: IndexPorts,
    repository_id: str,
    job_id: str | None,
    lease: Lease,
    why: str,
    *,
    sha: str | None,
    head_sha: str | None = None,
) -> None:
    """End a job (None: no job was created) that failed building `sha`, under `lease`.

    Each step may be repeated (a retry after a crash half-way): the job's state changes
    last, so a job seen FAILED has had its repository marked and its lease released."""
    observability.append_keys(repositoryId=repository_id, jobId=job_id)
    observability.count(Metric.INDEX_FAILURES)
    log.warning("index of %s at %s failed: %s", repository_id, sha, why)
    marked = _mark_failed(ports, repository_id, lease, why, sha=sha, head_sha=head_sha)
    ports.locks.release(lease)
    _enqueue_newer(ports, repository_id, sha, retry_force=False)
    if job_id is not None:
        ports.jobs.transition(job_id, JobState.FAILED, allowed=RUNNING)
    # for replays (ADR 23): a failure the item does not show, or the head SHA it took
    extra: dict[str, object] = {"marked": False} if not marked else {}
    if marked and head_sha:
        extra["headSha"] = head_sha
    record(ports, repository_id, EventType.INDEX_FAILED, {**index_failed(sha, why), **extra})


def fail_job_by_id(ports: IndexPorts, job_id: str, why: str) -> bool:
    """End a job known only by id; False when it has ended already (idempotent)."""
    job = ports.jobs.get(job_id)
    if job is None or (job.state in ENDED and not holds_lease(ports, job)):
        return False
    fail_job(ports, job.repository_id, job.job_id, job.lease, why, sha=job.sha)
    return True


def finish_lease(
    ports: IndexPorts, repository_id: str, lease: Lease, built_sha: str | None
) -> None:
    """Release, then look again: a request that arrived while we held the lease was
    acknowledged without work, so we enqueue it now (a duplicate is harmless)."""
    ports.locks.release(lease)
    _enqueue_newer(ports, repository_id, built_sha, retry_force=True)


def holds_lease(ports: IndexPorts, job: Job) -> bool:
    """Whether the repository's lock still names this job (whatever its expiry)."""
    held = ports.locks.get(job.repository_id)
    return held is not None and (held.owner, held.fence) == (job.owner, job.fence)


def acquire_lease(
    ports: IndexPorts,
    repository_id: str,
    owner: str,
    ttl: float,
    *,
    preempt: Callable[[Job], bool] | None = None,
) -> Lease:
    """The repository lease. A lease left behind by a job that has ended is released first:
    it must not hold a new request back until it expires. So is one held by a job that has
    published lexically and is embedding, when `preempt(job)` says this request may take it
    over: that job is superseded (its vector publish is fenced out). Raises LeaseHeld."""
    now = ports.clock.now()
    try:
        return ports.locks.acquire(repository_id, owner, ttl, now)
    except LeaseHeld:
        held = ports.locks.get(repository_id)
        if held is None:
            raise
        if not lease_is_stale(ports, held) and not _preempted(ports, held, preempt):
            raise
        log.info("releasing %s's lease of %s for %s", held.owner, repository_id, owner)
        ports.locks.release(held)
        return ports.locks.acquire(repository_id, owner, ttl, now)


def _preempted(ports: IndexPorts, held: Lease, preempt: Callable[[Job], bool] | None) -> bool:
    """Supersede the embedding job holding `held` if `preempt` allows (True when done)."""
    job = ports.jobs.get(held.owner) if preempt is not None and held.owner else None
    if job is None or preempt is None or job.state is not JobState.EMBEDDING:
        return False
    if job.fence != held.fence or not preempt(job):
        return False
    return ports.jobs.transition(job.job_id, JobState.SUPERSEDED, allowed=[JobState.EMBEDDING])


def lease_is_stale(ports: IndexPorts, lease: Lease | None) -> bool:
    """A lease still held by a job that has ended (it stopped between ending and releasing):
    nobody works under it, so it must not hold a new request back."""
    if lease is None or not lease.owner:
        return False
    job = ports.jobs.get(lease.owner)
    return job is not None and job.state in ENDED


def _mark_failed(
    ports: IndexPorts,
    repository_id: str,
    lease: Lease,
    why: str,
    *,
    sha: str | None,
    head_sha: str | None,
) -> bool:
    """Whether the item now says `error`."""
    repo = ports.repos.get(repository_id)
    if repo is None or (sha is not None and repo.requested_sha not in (None, sha)):
        log.info("%s has moved on to %s: failure recorded only", repository_id, sha)
        return False
    try:
        ports.repos.mark_failed(repository_id, why, lease, ports.clock.now(), head_sha=head_sha)
    except LeaseLost:  # a newer job owns the repository now
        log.info("%s has a newer job: failure of %s recorded only", repository_id, sha)
        return False
    return True


def _enqueue_newer(
    ports: IndexPorts, repository_id: str, done_sha: str | None, *, retry_force: bool
) -> None:
    repo = ports.repos.get(repository_id)
    if repo is None or not repo.requested_sha:
        return
    newer = repo.requested_sha != done_sha
    if newer or (retry_force and repo.force_requested):
        ports.queue.send(IndexRepository(repository_id=repository_id, force=repo.force_requested))
