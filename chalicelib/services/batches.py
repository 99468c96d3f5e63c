"""What every fan-out worker (parse, embed) does around its batch: find its job still
running under a live lease, and, once the batch is counted, trigger finalize when it was the
last one (a redelivery re-checks, so a lost finalize message is sent again).

With an embedder, a job's generation may be published in two steps (ADR 11, revised): the
parse batch that completes parsing (the job's `files_processed` reaches its `num_files`, the
files it parses) triggers the lexical publish while embed batches still run; the batch that
leaves nothing outstanding triggers the vector publish. The publisher decides whether a job is
large enough to publish lexically first; a trigger it does not need is dropped there.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from chalicelib.domain import layout
from chalicelib.domain.messages import FinalizeGeneration
from chalicelib.domain.models import Job, JobState
from chalicelib.domain.planning import PlannedFile
from chalicelib.errors import LeaseLost
from chalicelib.parsers import PARSER_VERSION
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
        ports.jobs.transition(job.job_id, JobState.SUPERSEDED, allowed=list(states))
        return None
    return job


def bundle_key(batch: Iterable[PlannedFile]) -> str:
    """Where a parse batch's artifacts are bundled (named by its blobs, this parser)."""
    return layout.blob_bundle_key(PARSER_VERSION, [(f.oid, f.language) for f in batch])


def parsing_done(job: Job) -> bool:
    """Every parse batch of the job is counted (embed batches count no files)."""
    return job.files_processed >= job.num_files


def finalize_if_last(
    ports: IndexPorts, job_id: str, outstanding: int | None, *, parse: bool = True
) -> None:
    """`outstanding` as `complete_batch` returned it (None: counted before, a redelivery).
    `parse`: the batch was a parse batch, which may complete parsing (the lexical trigger)."""
    lexical = parse and ports.embedder is not None and outstanding != 0
    current = ports.jobs.get(job_id) if outstanding is None or lexical else None
    if outstanding is None:
        outstanding = current.outstanding if current else -1
    parsed = lexical and current is not None and _parsed_only(current)
    if outstanding == 0 or parsed:
        ports.queue.send(FinalizeGeneration(job_id=job_id))


def _parsed_only(job: Job) -> bool:
    """Parsing is done and the lexical publish has not started: its trigger."""
    return job.state is JobState.PARSING and parsing_done(job)
