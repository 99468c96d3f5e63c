"""DynamoRepoStore, and the import path of all four DynamoDB stores (pynamodb).

AWS resources and IAM actions (this module and the ones it re-exports):
- `{prefix}-repositories`: dynamodb:GetItem, dynamodb:UpdateItem, dynamodb:TransactWriteItems
  (fenced writes: a ConditionCheck on the lock item plus an Update of the repository item),
  dynamodb:Scan (list_auto_refresh, for the sweep; list_owned). Tenant registrations and
  usage (`{prefix}-tenants`): see dynamo_tenancy.py.
- `{prefix}-locks`: dynamodb:GetItem, dynamodb:UpdateItem, dynamodb:ConditionCheckItem
  (dynamo_locks.py).
- `{prefix}-jobs`: dynamodb:PutItem, dynamodb:GetItem, dynamodb:UpdateItem (dynamo_jobs.py).
- `{prefix}-conversations`: dynamodb:GetItem, dynamodb:UpdateItem (dynamo_conversations.py).

Fenced writes (start_job, publish, mark_up_to_date, mark_failed) check in the same transaction
that the lock item still names the lease's owner and fence; publish also needs the lease
unexpired and the repository's stored generation fence not above the published one. Any
cancelled fenced transaction raises LeaseLost; a missing repository item cancels it too (no
ghost items). publish always sets status `ready`: DynamoDB cannot compare requested_sha inside
the update, so a newer request recorded meanwhile is re-marked `indexing` by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_conversations import MAX_TURNS, DynamoConversationStore
from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_jobs import DynamoJobStore
from chalicelib.adapters.dynamo_locks import DynamoLockManager, held_by
from chalicelib.adapters.dynamo_models import Models, RepositoryItem, stats_dict
from chalicelib.adapters.dynamo_tenancy import DynamoTenancy, tenancy_fields
from chalicelib.domain.models import Generation, Job, Lease, Repository, Stats, Status
from chalicelib.domain.tenancy import Quota, Usage
from chalicelib.errors import LeaseLost

__all__ = [
    "MAX_ERROR_CHARS",
    "MAX_TURNS",
    "DynamoConversationStore",
    "DynamoJobStore",
    "DynamoLockManager",
    "DynamoRepoStore",
]

MAX_ERROR_CHARS = 500


def _repository(item: RepositoryItem) -> Repository:
    generation = None
    if item.generation_key and item.generation_sha and item.generation_fence is not None:
        generation = Generation(
            item.generation_key, item.generation_sha, int(item.generation_fence)
        )
    return Repository(
        id=item.repository_id,
        remote=item.remote or "",
        branch=item.branch,
        is_local=bool(item.is_local),
        status=Status(item.status or Status.IDLE),
        indexed_sha=item.indexed_sha,
        head_sha=item.head_sha,
        requested_sha=item.requested_sha,
        force_requested=bool(item.force_requested),
        generation=generation,
        stats=Stats.from_dict(stats_dict(item)),
        indexed_at=item.indexed_at,
        requested_at=item.requested_at,
        updated_at=item.updated_at,
        error=item.error,
        files_processed=int(item.files_processed or 0),
        num_files=int(item.num_files or 0),
        files_embedded=None if item.files_embedded is None else int(item.files_embedded),
        job_id=item.job_id,
        auto_refresh=item.auto_refresh,
        branch_deleted_at=item.branch_deleted_at,
        **tenancy_fields(item),
    )


class DynamoRepoStore:
    def __init__(self, models: Models) -> None:
        self._model = models.repositories
        self._locks = models.locks
        self._connection = Connection(region=models.region, host=models.host)
        self._tenancy = DynamoTenancy(models)

    def get(self, repository_id: str) -> Repository | None:
        with translated(f"get repository {repository_id}"):
            try:
                return _repository(self._model.get(repository_id, consistent_read=True))
            except self._model.DoesNotExist:
                return None

    def register(
        self,
        repo: Repository,
        tenant: str,
        *,
        quota: Quota | None,
        sealed_token: str | None = None,
        server_token: bool = False,
    ) -> bool:
        return self._tenancy.register(
            repo, tenant, quota=quota, sealed_token=sealed_token, server_token=server_token
        )

    def usage(self, tenant: str) -> Usage:
        return self._tenancy.usage(tenant)

    def add_indexed_bytes(self, repository_id: str, delta: int) -> None:
        self._tenancy.add_indexed_bytes(repository_id, delta)

    def record_request(
        self,
        repo: Repository,
        *,
        sha: str,
        branch: str,
        force: bool,
        now: float,
    ) -> Repository:
        m = self._model
        actions: list[Action] = [
            m.remote.set(repo.remote),
            m.branch.set(branch),
            m.is_local.set(repo.is_local),
            m.status.set(Status.INDEXING.value),
            m.head_sha.set(sha),
            m.requested_sha.set(sha),
            m.requested_at.set(now),
            m.updated_at.set(now),
            m.error.remove(),
            m.branch_deleted_at.remove(),  # a request means the branch exists (again)
            m.auto_refresh.set(m.auto_refresh | (not repo.is_local)),  # default once
        ]
        if force:  # a pending force survives later unforced requests until a job starts
            actions.append(m.force_requested.set(True))
        item = m(repo.id)
        with translated(f"record request for {repo.id}"):
            item.update(actions=actions)
        return _repository(item)

    def start_job(
        self, repository_id: str, job: Job, lease: Lease, now: float, *, embedding: bool
    ) -> None:
        m = self._model
        actions: list[Action] = [
            m.job_id.set(job.job_id),
            m.status.set(Status.INDEXING.value),
            m.files_processed.set(job.files_processed),  # files reused from the base count
            m.num_files.set(job.num_files),
            m.files_embedded.set(job.files_processed) if embedding else m.files_embedded.remove(),
            m.force_requested.set(False),
            m.updated_at.set(now),
            m.error.remove(),  # a failure recorded while this request waited is over
        ]
        self._fenced(repository_id, actions, lease, None, m.repository_id.exists())

    def add_progress(
        self, repository_id: str, job_id: str, *, parsed: int = 0, embedded: int = 0
    ) -> None:
        m = self._model
        actions: list[Action] = []
        if parsed:
            actions.append(m.files_processed.add(parsed))
        if embedded:
            actions.append(m.files_embedded.add(embedded))
        if not actions:
            return
        try:
            m(repository_id).update(actions=actions, condition=m.job_id == job_id)
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return  # a superseded job: its progress no longer shows
            raise translate(exc, f"add progress to {repository_id}") from exc

    def publish(
        self,
        repository_id: str,
        generation: Generation,
        stats: Stats,
        lease: Lease,
        now: float,
        *,
        same_fence: bool = True,
    ) -> None:
        if generation.fence > lease.fence:
            raise LeaseLost(
                f"generation fence {generation.fence} is above lease fence {lease.fence}"
            )
        m = self._model
        actions: list[Action] = [
            m.generation_key.set(generation.key),
            m.generation_sha.set(generation.sha),
            m.generation_fence.set(generation.fence),
            m.indexed_sha.set(generation.sha),
            m.status.set(Status.READY.value),
            m.stats.set(stats.to_dict()),
            m.indexed_at.set(now),
            m.updated_at.set(now),
            m.files_processed.set(m.num_files | 0),
            m.error.remove(),
        ]
        older = m.generation_fence <= generation.fence
        if not same_fence:
            older = m.generation_fence < generation.fence
        newer_or_equal = m.generation_fence.does_not_exist() | older
        self._fenced(repository_id, actions, lease, now, m.repository_id.exists() & newer_or_equal)

    def mark_up_to_date(self, repository_id: str, lease: Lease, now: float) -> None:
        m = self._model
        actions: list[Action] = [
            m.status.set(Status.READY.value),
            m.updated_at.set(now),
            m.error.remove(),
        ]
        self._fenced(repository_id, actions, lease, None, m.repository_id.exists())

    def mark_failed(
        self,
        repository_id: str,
        message: str,
        lease: Lease,
        now: float,
        *,
        head_sha: str | None = None,
    ) -> None:
        m = self._model
        actions: list[Action] = [
            m.status.set(Status.ERROR.value),
            m.error.set(message[:MAX_ERROR_CHARS]),
            m.updated_at.set(now),
        ]
        if head_sha is not None:
            actions.append(m.head_sha.set(head_sha))
        self._fenced(repository_id, actions, lease, None, m.repository_id.exists())

    def mark_branch_deleted(self, repository_id: str, *, drop_index: bool, now: float) -> None:
        m = self._model
        actions: list[Action] = [m.branch_deleted_at.set(now), m.updated_at.set(now)]
        if drop_index:  # forget the generation; keep generation_fence so it never goes down
            dropped: list[Attribute[Any]] = [m.generation_key, m.generation_sha, m.indexed_sha]
            dropped += [m.indexed_at, m.head_sha, m.requested_sha, m.stats, m.job_id]
            actions += [m.status.set(Status.IDLE.value), *(a.remove() for a in dropped)]
        try:
            m(repository_id).update(actions=actions, condition=m.repository_id.exists())
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return  # no such repository: nothing to mark
            raise translate(exc, f"mark branch deleted for {repository_id}") from exc

    def list_auto_refresh(self) -> Iterator[Repository]:
        m = self._model
        default_on = m.auto_refresh.does_not_exist() & (
            m.is_local.does_not_exist() | (m.is_local == False)  # noqa: E712 (an expression)
        )
        with translated("scan repositories for the sweep"):
            for item in m.scan(filter_condition=(m.auto_refresh == True) | default_on):  # noqa: E712
                yield _repository(item)

    def list_owned(self, owner: str, *, tenant: str | None) -> Iterator[Repository]:
        # A scan: fine for a few thousand repositories; past that, a GSI on the owner.
        m = self._model
        condition = m.repository_id.startswith(f"github:{owner}:")
        if tenant is not None:
            condition &= m.tenants.contains(tenant)
        with translated("scan repositories of an owner"):
            for item in m.scan(filter_condition=condition):
                yield _repository(item)

    def _fenced(
        self,
        repository_id: str,
        actions: list[Action],
        lease: Lease,
        now: float | None,
        condition: Condition,
    ) -> None:
        """Update the repository item only while `lease` holds (and is unexpired at `now`)."""
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.condition_check(
                    self._locks, lease.lock_id, condition=held_by(self._locks, lease, now)
                )
                transaction.update(self._model(repository_id), actions, condition=condition)
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                raise LeaseLost(
                    f"{repository_id}: the lease or fence was stale "
                    f"(owner {lease.owner}, fence {lease.fence})"
                ) from exc
            raise translate(exc, f"fenced update of {repository_id}") from exc
