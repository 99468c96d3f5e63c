"""Use case: publish a job's generation once its batches are done.

Build the generation's packed query segments from the blob artifacts, write them and the
manifest as new immutable objects, then make them current with one fenced conditional
write. Readers follow only that pointer, so they never see half an index.

With an embedder, a job that parses many files is published twice (ADR 11, revised): once
parsing ends, its lexical generation (BM25, symbols, history, graph; no vectors, the manifest
names no embedding model) becomes current and the job waits in EMBEDDING under its lease;
once every embed batch is done, the vector segments are written beside it and a second
manifest of the same generation (`<prefix>/embedded/`) is published under the same lease and
fence. The lexical publish never replaces a publish of its own fence (`same_fence=False`),
so a late duplicate cannot hide the vectors; a newer job that took the lease fences out the
vector publish. A small job (a push) publishes once, with its vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from chalicelib import observability
from chalicelib.domain import layout
from chalicelib.domain.codecs import (
    decode_manifest,
    decode_plan,
    encode_manifest,
)
from chalicelib.domain.event_replay import published_fields
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
from chalicelib.services.batches import parsing_done
from chalicelib.services.blob_reads import stored
from chalicelib.services.context import IndexConfig, IndexPorts, log_job
from chalicelib.services.events import record
from chalicelib.services.generation_builder import GenerationBuilder, compute_stats
from chalicelib.services.job_endings import (
    ENDED,
    fail_job,
    finish_lease,
    holds_lease,
    public_message,
)
from chalicelib.services.vector_builder import VectorSegmentWriter

log = logging.getLogger(__name__)
_FETCH_THREADS = 16
_PUSH_EVENTS = 50  # the newest events searched for the delivery that pushed a published SHA
EMBEDDED = "embedded"  # the vector publish's manifest lives under <prefix>/embedded/


def embedded_key(generation_prefix: str) -> str:
    """The key of a generation's second publish (with its vectors): same segments, same
    fence and SHA, another manifest."""
    return f"{generation_prefix}/{EMBEDDED}"


_VECTOR_SEGMENTS = frozenset({"vectors", "vectors_delta"})


def _history(plan: Plan) -> dict[str, str]:
    return {"history": plan.history} if plan.history else {}


class GenerationPublisher:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def finalize(self, job_id: str) -> Generation | None:
        """Publish what the job has ready: the lexical generation of a large job whose
        parsing is done, else (every batch done) the whole generation or its vectors."""
        job = self._p.jobs.get(job_id)
        if job is None or job.state in ENDED:
            return None
        log_job(job)
        if job.state is JobState.EMBEDDING:
            return self._publish_vectors(job) if job.outstanding == 0 else None
        lexical_first = self._lexical_first(job)
        if job.outstanding != 0 and not (lexical_first and parsing_done(job)):
            return None  # a lexical trigger this job does not use: the last batch finalizes
        started = [JobState.PARSING, JobState.FINALIZING]
        if not self._p.jobs.transition(job_id, JobState.FINALIZING, allowed=started):
            return None  # ended meanwhile (failed by a dead letter)
        generation = self._guarded(job, lambda lease: self._build_and_publish(job, lease))
        if generation is None:
            return None
        if lexical_first:
            return self._embedding(job, generation)
        self._end(job, generation)
        return generation

    def _lexical_first(self, job: Job) -> bool:
        return self._p.embedder is not None and job.num_files >= self._c.lexical_first_files

    def _embedding(self, job: Job, generation: Generation) -> Generation | None:
        """The lexical generation is current: wait for the vectors (or publish them now,
        when the last embed batch finished while it was built)."""
        moved = [JobState.FINALIZING]
        if not self._p.jobs.transition(job.job_id, JobState.EMBEDDING, allowed=moved):
            return None
        self._report(job, generation)
        now = self._p.jobs.get(job.job_id)
        if now is not None and now.state is JobState.EMBEDDING and now.outstanding == 0:
            return self._publish_vectors(now)
        return generation

    def _publish_vectors(self, job: Job) -> Generation | None:
        generation = self._guarded(job, lambda lease: self._vectors_and_publish(job, lease))
        if generation is not None:
            self._end(job, generation, report=False)
        return generation

    def _end(self, job: Job, generation: Generation, *, report: bool = True) -> None:
        running = [JobState.FINALIZING, JobState.EMBEDDING]
        if not self._p.jobs.transition(job.job_id, JobState.PUBLISHED, allowed=running):
            return  # a duplicate finalize ended it, or a newer job superseded it
        finish_lease(self._p, job.repository_id, job.lease, job.sha)
        self._p.blobs.delete_prefix(layout.job_prefix(job.job_id) + "/")
        if report:
            self._report(job, generation)
        else:
            took = self._p.clock.now() - job.created_at
            log.info("published the vectors of generation %d in %.1f s", generation.fence, took)

    def _guarded(self, job: Job, publish: Callable[[Lease], Generation]) -> Generation | None:
        """Run one publish step under the job's lease: a lost lease supersedes the job, a
        permanent failure (a missing or corrupt artifact or plan) ends it."""
        try:
            lease = self._p.locks.heartbeat(job.lease, self._c.lease_seconds, self._p.clock.now())
            return publish(lease)
        except LeaseLost:
            log.info("job %s lost its lease; a newer job owns %s", job.job_id, job.repository_id)
            running = [JobState.FINALIZING, JobState.EMBEDDING]
            self._p.jobs.transition(job.job_id, JobState.SUPERSEDED, allowed=running)
            return None
        except Exception as exc:
            if not (is_permanent(exc) or isinstance(exc, ValueError)):
                raise  # retried by SQS
            log.warning("job %s cannot publish", job.job_id, exc_info=True)
            why = f"the index could not be published: {public_message(exc)}"
            fail_job(self._p, job.repository_id, job.job_id, job.lease, why, sha=job.sha)
            return None

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
        """The job's generation, published: whole, or lexical only when it publishes first."""
        plan = decode_plan(self._p.blobs.get(layout.job_plan_key(job.job_id)))
        prefix = layout.generation_prefix(job.repository_id, job.fence, job.sha)
        previous = self._previous(job)
        if previous is None or not self._has_our_vectors(previous):
            # A generation without our vectors (published lexically, its embedding then
            # superseded) may hold rows no vector was made for: start a new base instead.
            manifest = self._first(job, plan)
        else:
            manifest = self._reuse_base(job, plan, previous) or self._build(
                job, plan, previous, prefix
            )
        manifest = replace(manifest, segments={**manifest.segments, **_history(plan)})
        if self._lexical_first(job):
            segments = {k: v for k, v in manifest.segments.items() if k not in _VECTOR_SEGMENTS}
            stats = replace(manifest.stats, embedding_model=None)
            lexical = replace(manifest, segments=segments, embedding_model=None, stats=stats)
            return self._publish(job, lease, prefix, lexical, previous, same_fence=False)
        whole = self._with_vectors(job, manifest, previous)
        return self._publish(job, lease, prefix, whole, previous)

    def _vectors_and_publish(self, job: Job, lease: Lease) -> Generation:
        """The second publish: the lexical manifest, with vector segments, under another key."""
        prefix = layout.generation_prefix(job.repository_id, job.fence, job.sha)
        lexical = decode_manifest(self._p.blobs.get(layout.manifest_key(prefix)))
        manifest = self._with_vectors(job, lexical, self._previous(job))
        return self._publish(job, lease, embedded_key(prefix), manifest, None, count=False)

    def _with_vectors(self, job: Job, manifest: Manifest, previous: Manifest | None) -> Manifest:
        embedder = self._p.embedder
        prefix = layout.generation_prefix(job.repository_id, job.fence, job.sha)
        extra: dict[str, str] = {}
        if embedder is not None:
            writer = VectorSegmentWriter(self._p.blobs, embedder.model_id, embedder.dimensions)
            extra = writer.write(manifest.segments, previous, prefix)
        model = embedder.model_id if embedder else None
        stats = replace(
            manifest.stats,
            chunks_embedded=job.chunks_embedded,
            vectors_reused=job.vectors_reused,
            embedding_model=model,
        )
        segments = {**manifest.segments, **extra}
        return replace(manifest, segments=segments, embedding_model=model, stats=stats)

    def _publish(
        self,
        job: Job,
        lease: Lease,
        key: str,
        manifest: Manifest,
        previous: Manifest | None,
        *,
        same_fence: bool = True,
        count: bool = True,
    ) -> Generation:
        self._p.blobs.put(layout.manifest_key(key), encode_manifest(manifest), if_absent=True)
        generation = Generation(key=key, sha=job.sha, fence=job.fence)
        # Building a large generation can take a while: renew before the fenced publish.
        lease = self._p.locks.heartbeat(lease, self._c.lease_seconds, self._p.clock.now())
        now = self._p.clock.now()
        try:
            self._p.repos.publish(
                job.repository_id, generation, manifest.stats, lease, now, same_fence=same_fence
            )
        except LeaseLost:
            if same_fence or not self._published_already(job):
                raise
            log.info("generation %d was published already (a duplicate)", job.fence)
            return generation
        # the whole stats and the publish time: what the item holds, for replays (ADR 23)
        published = {
            **generation_published(generation, manifest.stats),
            **published_fields(manifest.stats, now),
        }
        record(self._p, job.repository_id, EventType.GENERATION_PUBLISHED, published)
        if count:
            self._count_bytes(job.repository_id, previous, manifest.stats.total_size)
        return generation

    def _published_already(self, job: Job) -> bool:
        """A lexical publish refused because this job's generation is current already."""
        repo = self._p.repos.get(job.repository_id)
        gen = repo.generation if repo else None
        same = gen is not None and (gen.fence, gen.sha) == (job.fence, job.sha)
        return same and holds_lease(self._p, job)

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

    def _has_our_vectors(self, manifest: Manifest) -> bool:
        embedder = self._p.embedder
        return embedder is None or manifest.embedding_model == embedder.model_id

    def _first(self, job: Job, plan: Plan) -> Manifest:
        """A generation built from nothing: a repository's first, or one after a generation
        without our vectors. Its segments live under a prefix named by the files they index
        (ADR 25), with a manifest there: a repository whose files are all the same (a fork,
        a mirror, a second registration) shares them instead of building."""
        files = [(f.path, f.oid, f.language, f.size) for f in plan.files]
        shared = layout.tree_prefix(PARSER_VERSION, files)
        built = stored(self._p.blobs, layout.manifest_key(shared))
        if built is not None:
            try:
                first = decode_manifest(built)
            except ValueError:
                log.warning("the shared manifest at %s is corrupt: building", shared)
            else:
                stats = replace(first.stats, blobs_parsed=0, blobs_reused=len(plan.files))
                now = self._p.clock.now()
                return replace(
                    first,
                    repository_id=job.repository_id,
                    sha=job.sha,
                    fence=job.fence,
                    created_at=now,
                    stats=stats,
                )
        manifest = self._build(job, plan, None, shared)
        self._p.blobs.put(layout.manifest_key(shared), encode_manifest(manifest), if_absent=True)
        return manifest

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
