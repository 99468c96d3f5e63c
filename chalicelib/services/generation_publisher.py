"""Use case: finalize a job once its last batch is parsed.

Build the generation's packed query segment from the blob artifacts, write it and the
manifest as new immutable objects, then make them current with one fenced conditional
write. Readers follow only that pointer, so they never see half an index.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from chalicelib import observability
from chalicelib.domain import layout
from chalicelib.domain.codecs import (
    decode_manifest,
    decode_plan,
    encode_manifest,
)
from chalicelib.domain.events import EventType, generation_published
from chalicelib.domain.freshness import push_received_at
from chalicelib.domain.models import (
    FileEntry,
    Generation,
    Job,
    JobState,
    Lease,
    Manifest,
)
from chalicelib.domain.planning import Plan
from chalicelib.errors import LeaseLost, is_permanent
from chalicelib.observability import Metric
from chalicelib.parsers import PARSER_VERSION
from chalicelib.services.context import IndexConfig, IndexPorts, log_job
from chalicelib.services.events import record
from chalicelib.services.generation_builder import GenerationBuilder, compute_stats
from chalicelib.services.job_endings import fail_job, finish_lease, public_message
from chalicelib.services.vector_builder import VectorSegmentWriter

log = logging.getLogger(__name__)
_FETCH_THREADS = 16
_PUSH_EVENTS = 50  # the newest events searched for the delivery that pushed a published SHA


class GenerationPublisher:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def finalize(self, job_id: str) -> Generation | None:
        job = self._p.jobs.get(job_id)
        if job is None or job.state in (JobState.PUBLISHED, JobState.SUPERSEDED, JobState.FAILED):
            return None
        log_job(job)
        started = [JobState.PARSING, JobState.FINALIZING]
        if not self._p.jobs.transition(job_id, JobState.FINALIZING, allowed=started):
            return None  # ended meanwhile (failed by a dead letter)
        try:
            lease = self._p.locks.heartbeat(job.lease, self._c.lease_seconds, self._p.clock.now())
            generation = self._build_and_publish(job, lease)
        except LeaseLost:
            log.info("job %s lost its lease; a newer job owns %s", job_id, job.repository_id)
            self._p.jobs.transition(job_id, JobState.SUPERSEDED, allowed=[JobState.FINALIZING])
            return None
        except Exception as exc:
            if not (is_permanent(exc) or isinstance(exc, ValueError)):
                raise  # retried by SQS
            # a missing or corrupt artifact or plan
            log.warning("job %s cannot publish", job_id, exc_info=True)
            why = f"the index could not be published: {public_message(exc)}"
            fail_job(self._p, job.repository_id, job_id, job.lease, why, sha=job.sha)
            return None
        self._p.jobs.transition(job_id, JobState.PUBLISHED, allowed=[JobState.FINALIZING])
        finish_lease(self._p, job.repository_id, lease, job.sha)
        self._p.blobs.delete_prefix(layout.job_prefix(job_id) + "/")
        self._report(job, generation)
        return generation

    def _report(self, job: Job, generation: Generation) -> None:
        """How long the job took and, when a webhook delivery pushed this SHA and it was not
        queryable before, how long since that push (best effort: events only explain)."""
        now = self._p.clock.now()
        observability.seconds(Metric.INDEX_DURATION, now - job.created_at)
        log.info("published generation %d at %s", generation.fence, generation.sha[:12])
        if job.base_generation is not None and job.base_generation.sha == job.sha:
            return  # a forced rebuild: this SHA was queryable already
        try:
            page = self._p.events.list(job.repository_id, _PUSH_EVENTS)
        except Exception:
            log.warning("could not read the events of %s", job.repository_id, exc_info=True)
            return
        received = push_received_at(page.events, job.sha)
        if received is not None:
            observability.seconds(Metric.PUSH_TO_QUERYABLE, now - received)

    def _build_and_publish(self, job: Job, lease: Lease) -> Generation:
        plan = decode_plan(self._p.blobs.get(layout.job_plan_key(job.job_id)))
        prefix = layout.generation_prefix(job.repository_id, job.fence, job.sha)
        previous = self._previous(job)
        manifest = self._reuse_base(job, plan, previous) or self._build(job, plan, previous, prefix)
        extra = {"history": plan.history} if plan.history else {}
        embedder = self._p.embedder
        if embedder is not None:
            writer = VectorSegmentWriter(self._p.blobs, embedder.model_id, embedder.dimensions)
            extra |= writer.write(manifest.segments, previous, prefix)
        model = embedder.model_id if embedder else None
        stats = replace(
            manifest.stats,
            chunks_embedded=job.chunks_embedded,
            vectors_reused=job.vectors_reused,
            embedding_model=model,
        )
        manifest = replace(
            manifest, segments={**manifest.segments, **extra}, embedding_model=model, stats=stats
        )
        self._p.blobs.put(layout.manifest_key(prefix), encode_manifest(manifest), if_absent=True)
        generation = Generation(key=prefix, sha=job.sha, fence=job.fence)
        # Building a large generation can take a while: renew before the fenced publish.
        lease = self._p.locks.heartbeat(lease, self._c.lease_seconds, self._p.clock.now())
        self._p.repos.publish(
            job.repository_id, generation, manifest.stats, lease, self._p.clock.now()
        )
        published = generation_published(generation, manifest.stats)
        record(self._p, job.repository_id, EventType.GENERATION_PUBLISHED, published)
        self._count_bytes(job.repository_id, previous, manifest.stats.total_size)
        return generation

    def _count_bytes(self, repository_id: str, previous: Manifest | None, size: int) -> None:
        """Each tenant's byte usage follows the repository's indexed size (domain/tenancy).
        Best effort: a failure leaves the counts behind by this change, never the index."""
        delta = size - (previous.stats.total_size if previous else 0)
        try:
            self._p.repos.add_indexed_bytes(repository_id, delta)
        except Exception:
            log.warning("could not count the bytes of %s", repository_id, exc_info=True)

    def _previous(self, job: Job) -> Manifest | None:
        base = job.base_generation
        if base is None:
            return None
        return decode_manifest(self._p.blobs.get(layout.manifest_key(base.key)))

    def _reuse_base(self, job: Job, plan: Plan, previous: Manifest | None) -> Manifest | None:
        """Same files at the same blobs as the last generation: share its segments."""
        if previous is None or previous.parser_version != PARSER_VERSION:
            return None
        embedder = self._p.embedder
        if previous.embedding_model != (embedder.model_id if embedder else None):
            return None
        same = {(f.path, f.oid) for f in previous.files} == {(f.path, f.oid) for f in plan.files}
        if not same:
            return None
        stats = replace(previous.stats, blobs_parsed=0, blobs_reused=len(plan.files))
        return replace(
            previous, sha=job.sha, fence=job.fence, created_at=self._p.clock.now(), stats=stats
        )

    def _build(self, job: Job, plan: Plan, previous: Manifest | None, prefix: str) -> Manifest:
        built = GenerationBuilder(self._p.blobs, self._c.compact_at).build(plan, previous, prefix)
        stats = compute_stats(
            plan, built.records, parsed=job.blobs_parsed, reused=plan.reused + job.blobs_reused
        )
        return Manifest(
            repository_id=job.repository_id,
            sha=job.sha,
            fence=job.fence,
            parser_version=PARSER_VERSION,
            created_at=self._p.clock.now(),
            files=tuple(FileEntry(f.path, f.oid, f.language, f.size) for f in plan.files),
            stats=stats,
            segments=built.segments,
            tombstones=built.tombstones,
        )
