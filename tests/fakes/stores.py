"""In-memory fakes of RepoStore, LockManager, JobStore, ConversationStore, EventLog,
DeliveryLog and SecretStore.

They follow the DynamoDB adapters' semantics exactly (tests/contract holds both to the same
assertions), so unit tests can run the services with no AWS at all.
"""

from __future__ import annotations

import builtins
import json
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import NamedTuple

from chalicelib.domain.events import Event, EventPage, new_event_key
from chalicelib.domain.models import Generation, Job, JobState, Lease, Repository, Stats, Status
from chalicelib.domain.tenancy import Quota, Usage, quota_refusal
from chalicelib.errors import (
    AlreadyExists,
    LeaseHeld,
    LeaseLost,
    NotFound,
    QuotaExceeded,
    TransientError,
)
from chalicelib.ports import ConversationStore, JobStore, LockManager, RepoStore, Turn

MAX_ERROR_CHARS = 500
MAX_TURNS = 20


class FakeLockManager:
    """A released lock keeps its fence and has owner "" (as DynamoLockManager.get reports)."""

    def __init__(self) -> None:
        self.items: dict[str, Lease] = {}

    def acquire(self, lock_id: str, owner: str, ttl_seconds: float, now: float) -> Lease:
        current = self.items.get(lock_id)
        until = now + ttl_seconds
        if current is None or not current.owner:
            fence = current.fence + 1 if current else 1
        elif current.owner == owner:
            fence = current.fence  # ours already (even if lapsed): extend, same fence
        elif current.lease_until < now:
            fence = current.fence + 1  # another owner's lease expired: take over
        else:
            raise LeaseHeld(f"lock {lock_id} is held by another owner")
        lease = Lease(lock_id=lock_id, owner=owner, fence=fence, lease_until=until)
        self.items[lock_id] = lease
        return lease

    def heartbeat(self, lease: Lease, ttl_seconds: float, now: float) -> Lease:
        if not self.holds(lease):
            raise LeaseLost(
                f"lock {lease.lock_id}: lease of {lease.owner} (fence {lease.fence}) was taken over"
            )
        renewed = replace(self.items[lease.lock_id], lease_until=now + ttl_seconds)
        self.items[lease.lock_id] = renewed
        return renewed

    def release(self, lease: Lease) -> None:
        if self.holds(lease):
            self.items[lease.lock_id] = replace(lease, owner="", lease_until=0)

    def get(self, lock_id: str) -> Lease | None:
        return self.items.get(lock_id)

    def holds(self, lease: Lease, now: float | None = None) -> bool:
        """The lock still names `lease`'s owner and fence (and is unexpired at `now`)."""
        current = self.items.get(lease.lock_id)
        if current is None or current.owner != lease.owner or current.fence != lease.fence:
            return False
        return now is None or current.lease_until >= now


class FakeRepoStore:
    def __init__(self, locks: FakeLockManager) -> None:
        self.locks = locks
        self.items: dict[str, Repository] = {}
        self.tenant_usage: dict[str, Usage] = {}
        # register() checks and counts in one step, as DynamoDB's transaction does.
        self._lock = threading.Lock()

    def register(
        self,
        repo: Repository,
        tenant: str,
        *,
        quota: Quota | None,
        sealed_token: str | None = None,
        server_token: bool = False,
    ) -> bool:
        size = max(0, repo.stats.total_size) if repo.generation else 0
        with self._lock:
            current = self.items.get(repo.id) or Repository(
                id=repo.id, remote=repo.remote, is_local=repo.is_local
            )
            added = tenant not in current.tenants
            if added:
                usage = self.tenant_usage.get(tenant, Usage())
                refusal = quota_refusal(usage, size, quota)
                if refusal:
                    raise QuotaExceeded(refusal)
                self.tenant_usage[tenant] = Usage(usage.repositories + 1, usage.bytes + size)
                current = replace(current, tenants=current.tenants | {tenant})
            if sealed_token is not None:
                current = replace(
                    current, sealed_tokens={**current.sealed_tokens, tenant: sealed_token}
                )
            if server_token:
                current = replace(current, uses_server_token=True)
            self.items[repo.id] = current
            return added

    def usage(self, tenant: str) -> Usage:
        return self.tenant_usage.get(tenant, Usage())

    def add_indexed_bytes(self, repository_id: str, delta: int) -> None:
        repo = self.items.get(repository_id)
        for tenant in sorted(repo.tenants if repo else ()):
            usage = self.usage(tenant)
            self.tenant_usage[tenant] = Usage(usage.repositories, usage.bytes + delta)

    def get(self, repository_id: str) -> Repository | None:
        return self.items.get(repository_id)

    def record_request(
        self,
        repo: Repository,
        *,
        sha: str,
        branch: str,
        force: bool,
        now: float,
    ) -> Repository:
        current = self.items.get(repo.id) or Repository(id=repo.id, remote=repo.remote)
        updated = replace(
            current,
            remote=repo.remote,
            branch=branch,
            is_local=repo.is_local,
            status=Status.INDEXING,
            head_sha=sha,
            requested_sha=sha,
            force_requested=current.force_requested or force,
            requested_at=now,
            updated_at=now,
            error=None,
            branch_deleted_at=None,
            auto_refresh=(
                current.auto_refresh if current.auto_refresh is not None else not repo.is_local
            ),
        )
        self.items[repo.id] = updated
        return updated

    def start_job(
        self, repository_id: str, job: Job, lease: Lease, now: float, *, embedding: bool
    ) -> None:
        repo = self._fenced(repository_id, lease)
        self.items[repository_id] = replace(
            repo,
            job_id=job.job_id,
            status=Status.INDEXING,
            files_processed=job.files_processed,
            num_files=job.num_files,
            files_embedded=job.files_processed if embedding else None,
            force_requested=False,
            updated_at=now,
            error=None,
        )

    def add_progress(
        self, repository_id: str, job_id: str, *, parsed: int = 0, embedded: int = 0
    ) -> None:
        repo = self.items.get(repository_id)
        if repo is None or repo.job_id != job_id:
            return
        self.items[repository_id] = replace(
            repo,
            files_processed=repo.files_processed + parsed,
            files_embedded=None if repo.files_embedded is None else repo.files_embedded + embedded,
        )

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
        repo = self._fenced(repository_id, lease, now)
        stored = None if repo.generation is None else repo.generation.fence
        if stored is not None and (
            stored > generation.fence or (stored == generation.fence and not same_fence)
        ):
            raise self._stale(repository_id, lease)
        self.items[repository_id] = replace(
            repo,
            generation=generation,
            indexed_sha=generation.sha,
            status=Status.READY,
            stats=stats,
            indexed_at=now,
            updated_at=now,
            files_processed=repo.num_files,
            error=None,
        )

    def mark_up_to_date(self, repository_id: str, lease: Lease, now: float) -> None:
        repo = self._fenced(repository_id, lease)
        self.items[repository_id] = replace(repo, status=Status.READY, updated_at=now, error=None)

    def mark_failed(
        self,
        repository_id: str,
        message: str,
        lease: Lease,
        now: float,
        *,
        head_sha: str | None = None,
    ) -> None:
        repo = self._fenced(repository_id, lease)
        self.items[repository_id] = replace(
            repo,
            status=Status.ERROR,
            error=message[:MAX_ERROR_CHARS],
            updated_at=now,
            head_sha=repo.head_sha if head_sha is None else head_sha,
        )

    def mark_branch_deleted(self, repository_id: str, *, drop_index: bool, now: float) -> None:
        repo = self.items.get(repository_id)
        if repo is None:
            return
        repo = replace(repo, branch_deleted_at=now, updated_at=now)
        if drop_index:  # the generation fence stays behind in DynamoDB; the pointer goes
            repo = replace(
                repo,
                status=Status.IDLE,
                generation=None,
                indexed_sha=None,
                indexed_at=None,
                head_sha=None,
                requested_sha=None,
                stats=Stats(),
                job_id=None,
            )
        self.items[repository_id] = repo

    def list_auto_refresh(self) -> Iterator[Repository]:
        for repo in list(self.items.values()):
            auto = repo.auto_refresh if repo.auto_refresh is not None else not repo.is_local
            if auto:
                yield repo

    def list_owned(self, owner: str, *, tenant: str | None) -> Iterator[Repository]:
        for rid, repo in sorted(self.items.items()):
            if rid.startswith(f"github:{owner}:") and (tenant is None or tenant in repo.tenants):
                yield repo

    def _fenced(self, repository_id: str, lease: Lease, now: float | None = None) -> Repository:
        repo = self.items.get(repository_id)
        if repo is None or not self.locks.holds(lease, now):
            raise self._stale(repository_id, lease)
        return repo

    @staticmethod
    def _stale(repository_id: str, lease: Lease) -> LeaseLost:
        return LeaseLost(
            f"{repository_id}: the lease or fence was stale "
            f"(owner {lease.owner}, fence {lease.fence})"
        )


class FakeJobStore:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.done_batches: dict[str, set[int]] = {}

    def create(self, job: Job) -> None:
        if job.job_id in self.jobs:
            raise AlreadyExists(f"job {job.job_id} exists already")
        self.jobs[job.job_id] = job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def set_plan(
        self,
        job_id: str,
        *,
        total_batches: int,
        num_files: int,
        known_batches: Collection[int] = (),
        known_files: int = 0,
    ) -> None:
        job = self._job(job_id)
        known = set(known_batches)
        self.done_batches.setdefault(job_id, set()).update(known)
        self.jobs[job_id] = replace(
            job,
            total_batches=total_batches,
            outstanding=total_batches - len(known),
            num_files=num_files,
            state=JobState.PARSING,
            files_processed=job.files_processed + (known_files if known else 0),
            blobs_reused=job.blobs_reused + (known_files if known else 0),
        )

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
        job = self._job(job_id)
        done = self.done_batches.setdefault(job_id, set())
        if batch in done:
            return None
        done.add(batch)
        job = replace(
            job,
            outstanding=job.outstanding - 1,
            files_processed=job.files_processed + files,
            blobs_parsed=job.blobs_parsed + parsed,
            blobs_reused=job.blobs_reused + reused,
            chunks_embedded=job.chunks_embedded + embedded,
            vectors_reused=job.vectors_reused + vectors_reused,
        )
        self.jobs[job_id] = job
        return job.outstanding

    def transition(self, job_id: str, to: JobState, *, allowed: Iterable[JobState]) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job.state not in set(allowed):
            return False
        self.jobs[job_id] = replace(job, state=to)
        return True

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job


class FakeConversationStore:
    def __init__(self) -> None:
        self.turns: dict[str, list[Turn]] = {}
        self.expires_at: dict[str, float] = {}

    def history(self, conversation_id: str) -> list[Turn]:
        return list(self.turns.get(conversation_id, []))

    def append(self, conversation_id: str, turn: Turn, *, expires_at: float) -> None:
        turns = [*self.turns.get(conversation_id, []), turn]
        self.turns[conversation_id] = turns[-MAX_TURNS:]
        self.expires_at[conversation_id] = expires_at


class FakeEventLog:
    """Events by repository, kept sorted by key (as the DynamoDB range key is)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Event]] = {}
        self.fail = False  # make append raise, to test that callers carry on

    def append(
        self,
        repository_id: str,
        type: str,
        data: Mapping[str, object],
        at: float,
        actor: str | None = None,
    ) -> Event:
        if self.fail:
            raise TransientError("event log unavailable")
        key = new_event_key(at)
        stored = json.loads(json.dumps(dict(data), default=str))  # what the table keeps
        event = Event(repository_id, key, type, at, stored, actor)
        self.items.setdefault(repository_id, {})[key] = event
        return Event(repository_id, key, type, at, dict(data), actor)

    def list(self, repository_id: str, limit: int, after: str | None = None) -> EventPage:
        keys = sorted(self.items.get(repository_id, {}), reverse=True)
        older = [k for k in keys if after is None or k < after]
        page = tuple(self.items[repository_id][k] for k in older[:limit])
        return EventPage(page, page[-1].key if len(older) > limit else None)

    def types(self, repository_id: str) -> builtins.list[str]:
        """Every event type of a repository, oldest first."""
        events = self.items.get(repository_id, {})
        return [events[k].type for k in sorted(events)]


class FakeDeliveryLog:
    def __init__(self) -> None:
        self.items: dict[str, tuple[str, float, float]] = {}

    def claim(self, delivery_id: str, *, event: str, now: float, expires_at: float) -> bool:
        if delivery_id in self.items:
            return False
        self.items[delivery_id] = (event, now, expires_at)
        return True

    def release(self, delivery_id: str) -> None:
        self.items.pop(delivery_id, None)


class FakeSecretStore:
    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self.secrets = dict(secrets or {})
        self.reads = 0

    def read(self, name: str) -> str:
        self.reads += 1
        try:
            return self.secrets[name]
        except KeyError:
            raise NotFound(f"read secret {name}: not found") from None


class StoreSet(NamedTuple):
    """The four store ports together: fakes here, DynamoDB ones in the integration tests."""

    repos: RepoStore
    locks: LockManager
    jobs: JobStore
    conversations: ConversationStore


def fake_store_set() -> StoreSet:
    locks = FakeLockManager()
    return StoreSet(FakeRepoStore(locks), locks, FakeJobStore(), FakeConversationStore())
