"""What every fan-out worker (parse, embed) does around its batch: find its job still
running under a live lease, and, once the batch is counted, trigger finalize when it was the
last one (a redelivery re-checks, so a lost finalize message is sent again)."""

from __future__ import annotations

import logging
from collections.abc import Collection

from chalicelib.domain.messages import FinalizeGeneration
from chalicelib.domain.models import Job, JobState
from chalicelib.errors import LeaseLost
from chalicelib.services.context import IndexConfig, IndexPorts, log_job

log = logging.getLogger(__name__)


def live_job(
    ports: IndexPorts, config: IndexConfig, job_id: str, states: Collection[JobState], batch: int
) -> Job | None:
    """The job if it is in one of `states` and its lease still holds (heartbeated), else
    None (a superseded lease marks the job so)."""
    job = ports.jobs.get(job_id)
    if job is not None:
        log_job(job)
    if job is None or job.state not in states:
        log.info("batch %s of job %s is no longer needed", batch, job_id)
        return None
    try:
        ports.locks.heartbeat(job.lease, config.lease_seconds, ports.clock.now())
    except LeaseLost:
        ports.jobs.transition(job.job_id, JobState.SUPERSEDED, allowed=[JobState.PARSING])
        return None
    return job


def finalize_if_last(ports: IndexPorts, job_id: str, outstanding: int | None) -> None:
    """`outstanding` as `complete_batch` returned it (None: counted before, a redelivery)."""
    if outstanding is None:
        current = ports.jobs.get(job_id)
        outstanding = current.outstanding if current else -1
    if outstanding == 0:
        ports.queue.send(FinalizeGeneration(job_id=job_id))
