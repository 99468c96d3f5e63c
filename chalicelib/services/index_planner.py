"""Use case: an index worker plans a job under the repository lease and stages its batches.

Plan = fetch, walk the tree at the SHA, diff it by blob oid against the last generation,
then stage each batch of new blobs to S3 and enqueue a ParseBatch for it. A batch whose
bundle exists (the same blobs batched alike before: a fork, a mirror) is counted parsed in
the job's plan instead: no blob of it is read, staged or sent (ADR 25). Memory is bounded
by one batch; a deadline stop re-enqueues the rest as StageBatches.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_manifest, decode_plan, encode_batch, encode_plan
from chalicelib.domain.event_replay import INDEX_UP_TO_DATE, started_fields
from chalicelib.domain.events import EventType, index_started
from chalicelib.domain.history import CommitChange, decode_history, encode_history, merge_history
from chalicelib.domain.messages import (
    EmbedBatch,
    FinalizeGeneration,
    IndexRepository,
    ParseBatch,
    StageBatches,
)
from chalicelib.domain.models import Job, JobState, Lease, Manifest, Repository
from chalicelib.domain.planning import Plan, plan_tree
from chalicelib.errors import (
    CommitNotOnBranch,
    LeaseHeld,
    LeaseLost,
    PermanentError,
    is_permanent,
)
from chalicelib.services.batches import bundle_key, finalize_if_last
from chalicelib.services.context import (
    IndexConfig,
    IndexPorts,
    RemainingMillis,
    log_job,
    out_of_time,
)
from chalicelib.services.credentials import repository_credentials
from chalicelib.services.events import record
from chalicelib.services.job_endings import (
    acquire_lease,
    fail_job,
    finish_lease,
    public_message,
)

log = logging.getLogger(__name__)

_PROBE_THREADS = 8  # bundle HEADs in flight while planning


class IndexPlanner:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def start(self, msg: IndexRepository, remaining: RemainingMillis | None = None) -> str | None:
        """Take the lease and plan a job; returns the job id, or None when nothing to do."""
        repo = self._p.repos.get(msg.repository_id)
        if repo is None or not repo.requested_sha:
            raise PermanentError(f"no index was requested for {msg.repository_id}")
        job_id = uuid.uuid4().hex
        try:
            lease = acquire_lease(
                self._p, repo.id, job_id, self._c.lease_seconds, preempt=_preempts(repo)
            )
        except LeaseHeld:
            log.info("lease held for %s; the holder re-checks requests on release", repo.id)
            return None
        try:
            return self._plan(repo, lease, msg.force, remaining)
        except LeaseLost:
            self._p.jobs.transition(job_id, JobState.SUPERSEDED, allowed=list(JobState))
            return None
        except Exception as exc:
            if is_permanent(exc):
                log.warning("index of %s failed for good", repo.id, exc_info=True)
                head = exc.branch_head if isinstance(exc, CommitNotOnBranch) else None
                why = public_message(exc)
                sha = repo.requested_sha
                fail_job(self._p, repo.id, job_id, lease, why, sha=sha, head_sha=head)
                return None
            # SQS will redeliver this message as a new job: free the lease for it, or the
            # retry would find it "held" and stand down until the lease expired.
            self._p.jobs.transition(job_id, JobState.FAILED, allowed=list(JobState))
            self._p.locks.release(lease)
            raise

    def _plan(
        self, repo: Repository, lease: Lease, force: bool, remaining: RemainingMillis | None
    ) -> str | None:
        sha = repo.requested_sha or ""
        current = sha == repo.indexed_sha and repo.generation and self._has_vectors(repo)
        if current and not (force or repo.force_requested):
            self._p.repos.mark_up_to_date(repo.id, lease, self._p.clock.now())
            finish_lease(self._p, repo.id, lease, sha)
            record(self._p, repo.id, INDEX_UP_TO_DATE, {"sha": sha})  # for replays (ADR 23)
            return None
        job = Job(
            job_id=lease.owner,
            repository_id=repo.id,
            sha=sha,
            fence=lease.fence,
            owner=lease.owner,
            base_generation=repo.generation,
            created_at=self._p.clock.now(),
        )
        self._p.jobs.create(job)
        log_job(job)
        self._p.git.fetch(repo.remote, repo.branch or "main", sha, self._credentials(repo))
        previous = self._previous(repo)
        plan = replace(
            self._make_plan(repo, sha, previous),
            history=self._write_history(repo, job, previous),
        )
        self._p.blobs.put(layout.job_plan_key(job.job_id), encode_plan(plan))
        log.info(
            "planned %d files at %s (%d unchanged); parse batches: %d",
            len(plan.files),
            sha[:12],
            plan.reused,
            len(plan.batches),
        )
        # With embeddings, parse batch n is followed by embed batch n: both are counted. The
        # job's num_files are the files it parses: parsing is done when they are processed.
        # Batches whose bundle exists are counted parsed now: nothing is staged for them.
        rounds = 1 if self._p.embedder is None else 2
        staged = sum(len(b) for b in plan.batches)
        known = self._known_batches(plan)
        known_files = sum(len(plan.batches[n]) for n in known)
        total = rounds * len(plan.batches)
        self._p.jobs.set_plan(
            job.job_id,
            total_batches=total,
            num_files=staged,
            known_batches=known,
            known_files=known_files,
        )
        started = replace(job, num_files=len(plan.files), files_processed=plan.reused + known_files)
        self._p.repos.start_job(
            repo.id, started, lease, self._p.clock.now(), embedding=self._p.embedder is not None
        )
        progress = started_fields(started.num_files, started.files_processed)
        record(self._p, repo.id, EventType.INDEX_STARTED, {**index_started(job), **progress})
        if not plan.batches:
            self._p.queue.send(FinalizeGeneration(job.job_id))
            return job.job_id
        if self._p.embedder is not None:  # known blobs may lack vectors of this model
            self._p.queue.send_many([EmbedBatch(job.job_id, n) for n in known])
        if len(known) == len(plan.batches):  # parsed already: publish (lexically first)
            finalize_if_last(self._p, job.job_id, total - len(known))
        else:
            self._stage(repo, job, plan, 0, remaining, skip=frozenset(known))
        return job.job_id

    def _has_vectors(self, repo: Repository) -> bool:
        """Whether the served generation is complete: with an embedder, one published only
        lexically (its embedding failed or was superseded) is built again to get them."""
        return self._p.embedder is None or bool(repo.stats.embedding_model)

    def _previous(self, repo: Repository) -> Manifest | None:
        if repo.generation is None:
            return None
        return decode_manifest(self._p.blobs.get(layout.manifest_key(repo.generation.key)))

    def _make_plan(self, repo: Repository, sha: str, previous: Manifest | None) -> Plan:
        known = {f.path: f.oid for f in previous.files} if previous else {}
        model = self._p.embedder.model_id if self._p.embedder else None
        if previous and model and previous.embedding_model != model:
            known = {}  # every blob needs vectors of this model: stage them all
        return plan_tree(
            self._p.git.list_tree(repo.remote, sha),
            known=known,
            max_file_bytes=self._c.max_file_bytes,
            max_batch_files=self._c.batch_files,
            max_batch_bytes=self._c.batch_bytes,
        )

    def _write_history(self, repo: Repository, job: Job, previous: Manifest | None) -> str:
        """The change-history segment at the job's SHA: the last generation's, extended by
        the commits since (a walk from scratch after a force push or on a first index)."""
        limit = self._c.history_commits
        old_key = previous.segments.get("history") if previous else None
        since = previous.sha if previous and old_key else None
        newer = self._p.git.history(repo.remote, job.sha, since, limit)
        older: tuple[CommitChange, ...] = ()
        if newer is None or since is None:
            newer = self._p.git.history(repo.remote, job.sha, None, limit) or []
        elif old_key:
            if not newer:
                return old_key
            older = decode_history(self._p.blobs.get(old_key))
        key = layout.segment_key(layout.generation_prefix(repo.id, job.fence, job.sha), "history")
        self._p.blobs.put(key, encode_history(merge_history(newer, older, limit)), if_absent=True)
        return key

    def resume(self, msg: StageBatches, remaining: RemainingMillis | None = None) -> None:
        """Continue staging after a deadline stop (possibly in another function instance)."""
        job = self._p.jobs.get(msg.job_id)
        if job is None or job.state is not JobState.PARSING:
            return
        log_job(job)
        repo = self._p.repos.get(job.repository_id)
        if repo is None:
            return
        self._p.git.fetch(repo.remote, repo.branch or "main", job.sha, self._credentials(repo))
        plan = decode_plan(self._p.blobs.get(layout.job_plan_key(job.job_id)))
        try:
            self._stage(repo, job, plan, msg.start, remaining)
        except LeaseLost:
            self._p.jobs.transition(job.job_id, JobState.SUPERSEDED, allowed=list(JobState))

    def _stage(
        self,
        repo: Repository,
        job: Job,
        plan: Plan,
        start: int,
        remaining: RemainingMillis | None,
        *,
        skip: frozenset[int] = frozenset(),
    ) -> None:
        """Stage batches from `start` but `skip` (counted at planning). A resumed staging
        skips none: a batch counted already is counted once (complete_batch)."""
        lease = job.lease
        for n in range(start, len(plan.batches)):
            if n in skip:
                continue
            if n > start and out_of_time(remaining, self._c.deadline_margin_ms):
                self._p.queue.send(StageBatches(job_id=job.job_id, start=n))
                return
            lease = self._p.locks.heartbeat(lease, self._c.lease_seconds, self._p.clock.now())
            batch = plan.batches[n]
            contents = {f.oid: self._p.git.read_blob(repo.remote, f.oid) for f in batch}
            self._p.blobs.put(layout.job_batch_key(job.job_id, n), encode_batch(batch, contents))
            self._p.queue.send(ParseBatch(job_id=job.job_id, batch=n))

    def _known_batches(self, plan: Plan) -> list[int]:
        """The batches whose bundle exists: the same blobs, batched alike, were parsed
        before (a fork, a mirror, a re-registration), so none of them is staged."""
        numbers = range(len(plan.batches))
        if not numbers:
            return []

        def bundled(n: int) -> bool:
            return self._p.blobs.exists(bundle_key(plan.batches[n]))

        with ThreadPoolExecutor(min(_PROBE_THREADS, len(numbers))) as pool:
            return [n for n, hit in zip(numbers, pool.map(bundled, numbers), strict=True) if hit]

    def _credentials(self, repo: Repository) -> list[str | None]:
        return repository_credentials(self._p, self._c, repo)


def _preempts(repo: Repository) -> Callable[[Job], bool]:
    """Whether this request may take the lease from `held`, a job that published its
    generation lexically and is embedding: only for another SHA (or a forced rebuild). The
    vectors it made are kept by blob, so the newer job embeds only what is left."""
    return lambda held: held.sha != repo.requested_sha or repo.force_requested
