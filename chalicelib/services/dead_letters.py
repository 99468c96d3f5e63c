"""Use case: a message exhausted its retries and SQS moved it to its dead-letter queue.

Its job must still end, or the repository would show `indexing` (or its vectors
`embedding`) forever. A job published lexically whose embedding dies ends in failure too:
its lexical generation stays served, the item says `error` with what works meanwhile. A job
message (StageBatches, ParseBatch, EmbedBatch, FinalizeGeneration) names its job: it ends in
failure, fenced by its lease (job_endings.fail_job). An IndexRepository names only the
repository, and every failed attempt already released the lease it took: the consumer takes
the lease itself, and ends the repository's pending request in `error` unless a live job
holds the lease or the item is no longer `indexing` (the repository has moved on).

Handling is idempotent: a job that has ended (and no longer holds the lease) or a repository
no longer `indexing` is left alone, so a redelivered dead letter changes nothing.
"""

from __future__ import annotations

import logging
import uuid

from chalicelib.domain.models import Job, JobState, Lease, Repository, Status
from chalicelib.errors import LeaseHeld
from chalicelib.services.context import IndexConfig, IndexPorts, log_job
from chalicelib.services.job_endings import (
    RETRIES_EXHAUSTED,
    RUNNING,
    acquire_lease,
    fail_job,
    fail_job_by_id,
    finish_lease,
)

log = logging.getLogger(__name__)
EMBEDDING_FAILED = (
    "embedding failed after repeated attempts; lexical, symbol and hybrid search (without "
    "the semantic signal) work on this commit; request the index again to retry"
)


class DeadLetters:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def job(self, job_id: str) -> None:
        """A job message is dead: end its job (published ones are only tidied up)."""
        job = self._p.jobs.get(job_id)
        if job is None:
            log.info("dead letter for unknown job %s", job_id)
            return
        log_job(job)
        repo = self._p.repos.get(job.repository_id)
        if repo is not None and _published_by(repo, job):
            # The generation went live and only the bookkeeping after it kept failing.
            if self._p.jobs.transition(job_id, JobState.PUBLISHED, allowed=RUNNING):
                finish_lease(self._p, job.repository_id, job.lease, job.sha)
            return
        why = EMBEDDING_FAILED if job.state is JobState.EMBEDDING else RETRIES_EXHAUSTED
        if not fail_job_by_id(self._p, job_id, why):
            log.info("dead letter for job %s, which has ended already", job_id)

    def repository(self, repository_id: str) -> None:
        """An IndexRepository is dead: end the pending request unless someone else is on it."""
        repo = self._p.repos.get(repository_id)
        if repo is None or repo.status is not Status.INDEXING:
            log.info("dead letter for %s, which is not indexing any more", repository_id)
            return
        lease = self._acquire(repository_id)
        if lease is None:
            log.info("a live job indexes %s: the dead letter is moot", repository_id)
            return
        repo = self._p.repos.get(repository_id)
        if repo is None or repo.status is not Status.INDEXING:  # finished while we waited
            finish_lease(self._p, repository_id, lease, repo.requested_sha if repo else None)
            return
        sha = repo.requested_sha
        fail_job(self._p, repository_id, None, lease, RETRIES_EXHAUSTED, sha=sha)

    def _acquire(self, repository_id: str) -> Lease | None:
        owner = f"dead-letter-{uuid.uuid4().hex}"
        try:
            return acquire_lease(self._p, repository_id, owner, self._c.lease_seconds)
        except LeaseHeld:
            return None


def _published_by(repo: Repository, job: Job) -> bool:
    """The job's generation is current, whole: a job published only lexically (EMBEDDING)
    has not published its vectors until the item's stats name their model."""
    gen = repo.generation
    mine = gen is not None and (gen.fence, gen.sha) == (job.fence, job.sha)
    return mine and (job.state is not JobState.EMBEDDING or bool(repo.stats.embedding_model))
