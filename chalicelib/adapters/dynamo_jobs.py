"""DynamoJobStore: index runs and their fan-out counters on `{prefix}-jobs`.

AWS: table `{prefix}-jobs` (TTL on `expires_at`). IAM: dynamodb:PutItem, dynamodb:GetItem,
dynamodb:UpdateItem.

complete_batch is one conditional UpdateItem: the batch number joins the `done_batches` set and
the counters move only if the set did not hold it yet, so a redelivered batch counts once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import JobItem, Models
from chalicelib.domain.models import Generation, Job, JobState
from chalicelib.errors import AlreadyExists, NotFound

JOB_TTL_SECONDS = 7 * 24 * 3600


def _job(item: JobItem) -> Job:
    base = None
    if item.base_generation_key and item.base_generation_sha:
        base = Generation(
            item.base_generation_key,
            item.base_generation_sha,
            int(item.base_generation_fence or 0),
        )
    return Job(
        job_id=item.job_id,
        repository_id=item.repository_id,
        sha=item.sha,
        fence=int(item.fence),
        owner=item.owner,
        base_generation=base,
        state=JobState(item.state),
        total_batches=int(item.total_batches),
        outstanding=int(item.outstanding),
        num_files=int(item.num_files),
        files_processed=int(item.files_processed),
        blobs_parsed=int(item.blobs_parsed),
        blobs_reused=int(item.blobs_reused),
        chunks_embedded=int(item.chunks_embedded or 0),
        vectors_reused=int(item.vectors_reused or 0),
        created_at=float(item.created_at),
    )


class DynamoJobStore:
    def __init__(self, models: Models) -> None:
        self._model = models.jobs

    def create(self, job: Job) -> None:
        base = job.base_generation
        item = self._model(
            job.job_id,
            repository_id=job.repository_id,
            sha=job.sha,
            fence=job.fence,
            owner=job.owner,
            base_generation_key=base.key if base else None,
            base_generation_sha=base.sha if base else None,
            base_generation_fence=base.fence if base else None,
            state=job.state.value,
            total_batches=job.total_batches,
            outstanding=job.outstanding,
            num_files=job.num_files,
            files_processed=job.files_processed,
            blobs_parsed=job.blobs_parsed,
            blobs_reused=job.blobs_reused,
            created_at=job.created_at,
            expires_at=int(job.created_at + JOB_TTL_SECONDS),
        )
        try:
            item.save(condition=self._model.job_id.does_not_exist())
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                raise AlreadyExists(f"job {job.job_id} exists already") from exc
            raise translate(exc, f"create job {job.job_id}") from exc

    def get(self, job_id: str) -> Job | None:
        with translated(f"get job {job_id}"):
            try:
                return _job(self._model.get(job_id, consistent_read=True))
            except self._model.DoesNotExist:
                return None

    def set_plan(
        self,
        job_id: str,
        *,
        total_batches: int,
        num_files: int,
        known_batches: Collection[int] = (),
        known_files: int = 0,
    ) -> None:
        m = self._model
        known = set(known_batches)
        actions: list[Action] = [
            m.total_batches.set(total_batches),
            m.outstanding.set(total_batches - len(known)),
            m.num_files.set(num_files),
            m.state.set(JobState.PARSING.value),
        ]
        if known:
            actions += [
                m.done_batches.add(known),
                m.files_processed.add(known_files),
                m.blobs_reused.add(known_files),
            ]
        if self._update(job_id, actions, m.job_id.exists()) is None:
            raise NotFound(f"job {job_id} does not exist")

    def complete_batch(
        self,
        job_id: str,
        batch: int,
        *,
        files: int,
        parsed: int,
        reused: int,
        embedded: int = 0,
        vectors_reused: int = 0,
    ) -> int | None:
        m = self._model
        actions: list[Action] = [
            m.done_batches.add({batch}),
            m.outstanding.add(-1),
            m.files_processed.add(files),
            m.blobs_parsed.add(parsed),
            m.blobs_reused.add(reused),
            m.chunks_embedded.add(embedded),
            m.vectors_reused.add(vectors_reused),
        ]
        first_time = m.job_id.exists() & ~m.done_batches.contains(batch)
        item = self._update(job_id, actions, first_time)
        if item is not None:
            return int(item.outstanding)
        if self.get(job_id) is None:
            raise NotFound(f"job {job_id} does not exist")
        return None  # this batch was counted already (a redelivered message)

    def transition(self, job_id: str, to: JobState, *, allowed: Iterable[JobState]) -> bool:
        states = [state.value for state in allowed]
        if not states:
            return False
        m = self._model
        return self._update(job_id, [m.state.set(to.value)], m.state.is_in(*states)) is not None

    def _update(self, job_id: str, actions: list[Action], condition: Condition) -> JobItem | None:
        """The updated item, or None when `condition` did not hold."""
        item = self._model(job_id)
        try:
            item.update(actions=actions, condition=condition)
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return None
            raise translate(exc, f"update job {job_id}") from exc
        return item
