"""The ports and knobs the indexing services share, bundled once by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chalicelib import observability
from chalicelib.domain.credentials import ServerToken
from chalicelib.domain.events import Event, EventPage, new_event_key
from chalicelib.domain.history import HISTORY_COMMITS
from chalicelib.domain.increments import COMPACT_AT
from chalicelib.domain.models import Job
from chalicelib.domain.remote_policy import DEFAULT_GIT_HOSTS
from chalicelib.domain.tenancy import Quota
from chalicelib.ports import (
    BlobStore,
    Clock,
    Embedder,
    EventLog,
    GitEngine,
    JobStore,
    LiveFeed,
    LockManager,
    RepoStore,
    TokenVault,
    WorkQueue,
)

RemainingMillis = Callable[[], int]


class NullEventLog:
    """Keeps nothing: for wiring that has no event table (some tests, tools)."""

    def append(
        self,
        repository_id: str,
        type: str,
        data: Mapping[str, object],
        at: float,
        actor: str | None = None,
    ) -> Event:
        return Event(repository_id, new_event_key(at), type, at, dict(data), actor)

    def list(self, repository_id: str, limit: int, after: str | None = None) -> EventPage:
        return EventPage((), None)


class NullLiveFeed:
    """Pushes nothing: wiring without live listeners (some tests, tools)."""

    def published(self, event: Event) -> None:
        return None

    def progressed(self, repository_id: str) -> None:
        return None


@dataclass(frozen=True)
class IndexConfig:
    max_file_bytes: int = 1024 * 1024
    batch_files: int = 64
    batch_bytes: int = 4 * 1024 * 1024
    lease_seconds: float = 300.0
    deadline_margin_ms: int = 15_000
    server_git_token: str | None = field(default=None, repr=False)
    git_token_scope: tuple[str, ...] = ()  # where the server token may go (none by default)
    # No caps by default; bootstrap sets the configured ones.
    tenant_quota: Quota = field(default_factory=Quota)
    allow_local_paths: bool = False
    git_hosts: tuple[str, ...] = DEFAULT_GIT_HOSTS  # remotes' hosts a request may name
    local_roots: tuple[str, ...] = ()  # where a local path may lie (when allowed)
    compact_at: float = COMPACT_AT
    history_commits: int = HISTORY_COMMITS
    # A job that parses at least this many files (with an embedder) is published lexically
    # as soon as parsing ends, its vectors in a second publish (ADR 11, revised); a smaller
    # one (a push) waits for its few vectors and publishes once.
    lexical_first_files: int = 32

    @property
    def server_token(self) -> ServerToken:
        return ServerToken(self.server_git_token, self.git_token_scope)


@dataclass(frozen=True)
class IndexPorts:
    git: GitEngine
    blobs: BlobStore
    queue: WorkQueue
    repos: RepoStore
    locks: LockManager
    jobs: JobStore
    vault: TokenVault
    clock: Clock
    events: EventLog = field(default_factory=NullEventLog)
    embedder: Embedder | None = None  # None: no vectors, semantic search unavailable
    # Progress pushed to WebSocket subscribers (services/live.py); events reach them
    # through the event log (PublishingEventLog).
    live: LiveFeed = field(default_factory=NullLiveFeed)


def out_of_time(remaining: RemainingMillis | None, margin_ms: int) -> bool:
    """True when the function must stop now to finish cleanly before its deadline."""
    return remaining is not None and remaining() < margin_ms


def log_job(job: Job) -> None:
    """Name the job on the current log lines: its repository, id and generation (fence)."""
    observability.append_keys(
        repositoryId=job.repository_id, jobId=job.job_id, generation=job.fence
    )
