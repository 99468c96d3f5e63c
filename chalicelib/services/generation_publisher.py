"""Use case: finalize a job once its last batch is parsed.

Build the generation's packed query segment from the blob artifacts, write it and the
manifest as new immutable objects, then make them current with one fenced conditional
write. Readers follow only that pointer, so they never see half an index.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from chalicelib.domain import layout
from chalicelib.domain.codecs import (
    decode_artifact,
    decode_manifest,
    decode_plan,
    encode_graph,
    encode_manifest,
)
from chalicelib.domain.events import EventType, generation_published
from chalicelib.domain.graph import CodeGraph, GraphFile
from chalicelib.domain.languages import extension_of
from chalicelib.domain.lexical import LexicalSegment, SegmentFile
from chalicelib.domain.models import (
    BlobArtifact,
    FileEntry,
    Generation,
    Job,
    JobState,
    Lease,
    Manifest,
    Stats,
)
from chalicelib.domain.planning import Plan
from chalicelib.errors import LeaseLost, StrataError
from chalicelib.parsers import PARSER_VERSION
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.events import record
from chalicelib.services.index_planner import PERMANENT, fail_job, finish_lease

log = logging.getLogger(__name__)
_FETCH_THREADS = 16
FINALIZE_FAILURES: tuple[type[Exception], ...] = (*PERMANENT, ValueError)


class GenerationPublisher:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def finalize(self, job_id: str) -> Generation | None:
        job = self._p.jobs.get(job_id)
        if job is None or job.state in (JobState.PUBLISHED, JobState.SUPERSEDED, JobState.FAILED):
            return None
        self._p.jobs.transition(
            job_id, JobState.FINALIZING, allowed=[JobState.PARSING, JobState.FINALIZING]
        )
        try:
            lease = self._p.locks.heartbeat(job.lease, self._c.lease_seconds, self._p.clock.now())
            generation = self._build_and_publish(job, lease)
        except LeaseLost:
            log.info("job %s lost its lease; a newer job owns %s", job_id, job.repository_id)
            self._p.jobs.transition(job_id, JobState.SUPERSEDED, allowed=[JobState.FINALIZING])
            return None
        except FINALIZE_FAILURES as exc:  # a missing or corrupt artifact or plan
            why = exc.message if isinstance(exc, StrataError) else str(exc)
            fail_job(self._p, job.repository_id, job_id, job.lease, f"cannot publish: {why}")
            return None
        self._p.jobs.transition(job_id, JobState.PUBLISHED, allowed=[JobState.FINALIZING])
        finish_lease(self._p, job.repository_id, lease, job.sha)
        self._p.blobs.delete_prefix(layout.job_prefix(job_id) + "/")
        return generation

    def _build_and_publish(self, job: Job, lease: Lease) -> Generation:
        plan = decode_plan(self._p.blobs.get(layout.job_plan_key(job.job_id)))
        prefix = layout.generation_prefix(job.repository_id, job.fence, job.sha)
        manifest = self._reuse_base(job, plan) or self._build(job, plan, prefix)
        self._p.blobs.put(layout.manifest_key(prefix), encode_manifest(manifest), if_absent=True)
        generation = Generation(key=prefix, sha=job.sha, fence=job.fence)
        # Building a large generation can take a while: renew before the fenced publish.
        lease = self._p.locks.heartbeat(lease, self._c.lease_seconds, self._p.clock.now())
        self._p.repos.publish(
            job.repository_id, generation, manifest.stats, lease, self._p.clock.now()
        )
        published = generation_published(generation, manifest.stats)
        record(self._p, job.repository_id, EventType.GENERATION_PUBLISHED, published)
        return generation

    def _reuse_base(self, job: Job, plan: Plan) -> Manifest | None:
        """Same files at the same blobs as the base generation: share its segments."""
        base = job.base_generation
        if base is None:
            return None
        manifest = decode_manifest(self._p.blobs.get(layout.manifest_key(base.key)))
        same = {(f.path, f.oid) for f in manifest.files} == {(f.path, f.oid) for f in plan.files}
        if not same or manifest.parser_version != PARSER_VERSION:
            return None
        stats = replace(manifest.stats, blobs_parsed=0, blobs_reused=len(plan.files))
        return replace(
            manifest, sha=job.sha, fence=job.fence, created_at=self._p.clock.now(), stats=stats
        )

    def _build(self, job: Job, plan: Plan, prefix: str) -> Manifest:
        artifacts = self._load_artifacts(plan)
        files = [
            SegmentFile(f.path, f.oid, f.language, a.text, a.chunks)
            for f, a in zip(plan.files, artifacts, strict=True)
            if a.skipped is None
        ]
        segment = LexicalSegment.build(files)
        key = layout.segment_key(prefix, "lexical")
        self._p.blobs.put(key, segment.to_bytes(), if_absent=True)
        graph = CodeGraph.build(
            GraphFile(f.path, f.language, a.symbols, a.references)
            for f, a in zip(plan.files, artifacts, strict=True)
            if a.skipped is None
        )
        graph_key = layout.segment_key(prefix, "graph")
        self._p.blobs.put(graph_key, encode_graph(graph), if_absent=True)
        done = self._p.jobs.get(job.job_id) or job
        stats = compute_stats(
            plan, artifacts, parsed=done.blobs_parsed, reused=plan.reused + done.blobs_reused
        )
        return Manifest(
            repository_id=job.repository_id,
            sha=job.sha,
            fence=job.fence,
            parser_version=PARSER_VERSION,
            created_at=self._p.clock.now(),
            files=tuple(FileEntry(f.path, f.oid, f.language, f.size) for f in plan.files),
            stats=stats,
            segments={"lexical": key, "graph": graph_key},
        )

    def _load_artifacts(self, plan: Plan) -> list[BlobArtifact]:
        def load(f: FileEntry) -> BlobArtifact:
            key = layout.blob_artifact_key(PARSER_VERSION, f.oid, f.language)
            return decode_artifact(self._p.blobs.get(key))

        entries = [FileEntry(f.path, f.oid, f.language, f.size) for f in plan.files]
        with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
            return list(pool.map(load, entries))


def compute_stats(
    plan: Plan, artifacts: Sequence[BlobArtifact], *, parsed: int, reused: int
) -> Stats:
    languages: Counter[str] = Counter()
    extensions: Counter[str] = Counter()
    skipped: Counter[str] = Counter(plan.skipped)
    total_size = chunks = 0
    for f, a in zip(plan.files, artifacts, strict=True):
        if a.skipped:
            skipped[a.skipped] += 1
            continue
        languages[f.language] += 1
        extensions[extension_of(f.path) or "(none)"] += 1
        total_size += f.size
        chunks += len(a.chunks)
    return Stats(
        total_files=sum(languages.values()),
        total_size=total_size,
        languages=dict(languages),
        extensions=dict(extensions),
        skipped=dict(skipped),
        chunks=chunks,
        blobs_parsed=parsed,
        blobs_reused=reused,
    )
