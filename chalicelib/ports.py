"""One Protocol per outside system. Services depend on these; adapters implement them;
tests use in-memory fakes (tests/fakes/) that the contract tests hold to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from chalicelib.domain.answers import Completion, ModelLimits, Prompt

# Passage and Turn are re-exported: the answerers and conversation stores meet them here.
from chalicelib.domain.answers import Passage as Passage  # noqa: PLC0414
from chalicelib.domain.answers import Turn as Turn  # noqa: PLC0414
from chalicelib.domain.callbacks import CallbackTarget
from chalicelib.domain.check_plan import BuildRun, UnitResult
from chalicelib.domain.checks import Check, CheckStatus
from chalicelib.domain.commits import CommitMeta, FileChange
from chalicelib.domain.event_replay import ReadModel
from chalicelib.domain.events import Event, EventPage
from chalicelib.domain.history import CommitChange
from chalicelib.domain.idempotency import IdempotencyRecord
from chalicelib.domain.identity import ApiKey
from chalicelib.domain.live import CallbackRegistration, Connection, Listener
from chalicelib.domain.messages import Message
from chalicelib.domain.models import Generation, Job, JobState, Lease, Repository, Stats, TreeEntry
from chalicelib.domain.rate_limits import Bucket
from chalicelib.domain.tenancy import Quota, Usage


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class GitEngine(Protocol):
    """Reads remotes without a worktree. `credentials` are tried in order on AccessDenied;
    `None` means anonymous. Raises RemoteNotFound, AccessDenied, TransientError, and
    RemoteRefused for a remote the deployment does not allow or cannot reach."""

    def resolve_head(
        self, remote: str, branch: str | None, credentials: Sequence[str | None]
    ) -> tuple[str, str]:
        """(branch, sha) of the branch head, the remote's default branch when None."""
        ...

    def fetch(self, remote: str, branch: str, sha: str, credentials: Sequence[str | None]) -> None:
        """Make `sha` readable locally (bare clone cache)."""
        ...

    def list_tree(self, remote: str, sha: str) -> Iterator[TreeEntry]:
        """Every entry of the commit's tree, recursively, blobs and submodules (mode 0o160000)."""
        ...

    def read_blob(self, remote: str, oid: str) -> bytes: ...

    def history(
        self, remote: str, sha: str, since: str | None, limit: int
    ) -> list[CommitChange] | None:
        """Commits reachable from the fetched `sha` and not from `since` (every one when None),
        newest first, kept by `history.keep_commit`, at most `limit`. None when `since` is not
        an ancestor of `sha` (a force push): the caller then walks from scratch."""
        ...

    def is_ancestor(self, remote: str, ancestor: str, descendant: str) -> bool | None:
        """From what is already fetched, never the network: True when `ancestor` is
        `descendant` or one of its ancestors, False when not, None when either commit is not
        in this process's git cache (unknown)."""
        ...


class GitWriter(Protocol):
    """Writes commits into the git cache without a worktree, and pushes them with
    compare-and-swap. Raises what GitEngine raises for a remote (RemoteRefused, AccessDenied,
    RemoteNotFound, TransientError); no message names the remote or a credential."""

    def write_commit(
        self, remote: str, base: str, changes: Sequence[FileChange], meta: CommitMeta
    ) -> str:
        """The SHA of a new commit whose parent is `base` (fetched already: RemoteNotFound
        otherwise) and whose tree is base's with `changes` applied; nothing leaves the cache.
        The same base, changes and meta make the same SHA. InvalidRequest when a change does
        not fit the base tree: a path under a file or a submodule, a directory replaced by a
        file, the deletion of a path that is not there, or no change at all."""
        ...

    def push(
        self, remote: str, branch: str, expected: str, sha: str, credentials: Sequence[str | None]
    ) -> None:
        """Move `branch` on the remote from `expected` to `sha` (a commit write_commit made
        on `expected`), atomically and only if the branch is still at `expected`: otherwise
        BranchMoved (with the head, when known) and the remote is unchanged. A branch that
        does not exist is BranchNotFound."""
        ...


class BlobStore(Protocol):
    """Immutable objects by key (S3)."""

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        """Write; with if_absent, write only when no object exists and return False if one did."""
        ...

    def get(self, key: str) -> bytes:
        """Raises NotFound."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> int: ...


class WorkQueue(Protocol):
    def send(self, message: Message, *, delay_seconds: int = 0) -> None: ...

    def send_many(self, messages: Sequence[Message]) -> None: ...


class RepoStore(Protocol):
    """Repository items. Writes that publish results are fenced by the repository lease."""

    def get(self, repository_id: str) -> Repository | None: ...

    def record_request(
        self,
        repo: Repository,
        *,
        sha: str,
        branch: str,
        force: bool,
        now: float,
    ) -> Repository:
        """Upsert the item for a new index request: status indexing, requested/head SHA."""
        ...

    def register(
        self,
        repo: Repository,
        tenant: str,
        *,
        quota: Quota | None,
        sealed_token: str | None = None,
        server_token: bool = False,
    ) -> bool:
        """Make `tenant` one of the repository's tenants (creating a bare item for `repo`
        if there is none). A new registration counts against the tenant's usage in the same
        conditional write: one repository and `repo.stats.total_size` bytes; past `quota`
        nothing is written and QuotaExceeded says which cap. Then keeps `sealed_token` as
        the tenant's token, and records `server_token` (an admin registration relied on the
        server token). True when the tenant was new to the repository."""
        ...

    def usage(self, tenant: str) -> Usage:
        """What `tenant` has registered (zeros when nothing)."""
        ...

    def add_indexed_bytes(self, repository_id: str, delta: int) -> None:
        """Move every tenant's byte count of this repository by `delta` (a publish changed
        its size). Not atomic with the publish: best effort."""
        ...

    def start_job(
        self, repository_id: str, job: Job, lease: Lease, now: float, *, embedding: bool
    ) -> None:
        """Point the item at a running job and reset progress (fenced): the job's files
        processed so far count as parsed, and as embedded when it embeds (else None)."""
        ...

    def add_progress(
        self, repository_id: str, job_id: str, *, parsed: int = 0, embedded: int = 0
    ) -> None:
        """Count files parsed and embedded by `job_id`; nothing once another job runs."""
        ...

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
        """Make a generation current. Raises LeaseLost unless `lease` is still held and its
        fence is at least the published generation's, and the stored generation's fence is
        not above it (nor equal to it when not `same_fence`: a lexical publish never replaces
        its own generation's vector publish, ADR 11)."""
        ...

    def mark_up_to_date(self, repository_id: str, lease: Lease, now: float) -> None:
        """Requested SHA already indexed: back to ready without a new generation (fenced)."""
        ...

    def mark_failed(
        self,
        repository_id: str,
        message: str,
        lease: Lease,
        now: float,
        *,
        head_sha: str | None = None,
    ) -> None:
        """End in `error` with a message (fenced). `head_sha`, when given, replaces the head
        SHA seen (the request named a SHA the branch does not hold)."""
        ...

    def mark_branch_deleted(self, repository_id: str, *, drop_index: bool, now: float) -> None:
        """The tracked branch is gone. With drop_index, the item forgets its generation
        (status idle; the generation fence is kept, S3 objects are left alone)."""
        ...

    def list_auto_refresh(self) -> Iterator[Repository]:
        """Every repository the sweep should look at (auto_refresh, or its default)."""
        ...

    def list_owned(self, owner: str, *, tenant: str | None) -> Iterator[Repository]:
        """Every repository of a GitHub owner (ids `github:<owner>:<name>`) that `tenant`
        registered (every one with None: admin callers)."""
        ...


class LockManager(Protocol):
    """Lease locks with a monotonic fence; items are never deleted."""

    def acquire(self, lock_id: str, owner: str, ttl_seconds: float, now: float) -> Lease:
        """Raises LeaseHeld when another owner's lease is live."""
        ...

    def heartbeat(self, lease: Lease, ttl_seconds: float, now: float) -> Lease:
        """Raises LeaseLost when the lease expired and was taken, or changed hands."""
        ...

    def release(self, lease: Lease) -> None:
        """Clear the owner (keeping the fence); a lost lease is left alone."""
        ...

    def get(self, lock_id: str) -> Lease | None: ...


class JobStore(Protocol):
    def create(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def set_plan(
        self,
        job_id: str,
        *,
        total_batches: int,
        num_files: int,
        known_batches: Collection[int] = (),
        known_files: int = 0,
    ) -> None:
        """Record the fan-out size: outstanding = total_batches; num_files = the files the
        job parses (its parse batches' files), so parsing is done when as many are counted.
        `known_batches` (holding `known_files` files, every blob parsed already) are counted
        done at once, their files processed and reused."""
        ...

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
        """Count a batch (parse batches 0..n-1, embed batches n..2n-1) done once, with its
        counters. Returns outstanding batches after, None if it was counted already."""
        ...

    def transition(self, job_id: str, to: JobState, *, allowed: Iterable[JobState]) -> bool:
        """Move to `to` only from an allowed state; False if the job was elsewhere."""
        ...


class ConversationStore(Protocol):
    """The last turns of each conversation (a turn keeps its repository and cited paths)."""

    def history(self, conversation_id: str) -> list[Turn]: ...

    def append(self, conversation_id: str, turn: Turn, *, expires_at: float) -> None: ...


class TokenVault(Protocol):
    """Seals access tokens so they are never stored in plain text (KMS)."""

    def seal(self, token: str) -> str: ...

    def open(self, sealed: str) -> str: ...


@dataclass(frozen=True)
class Answer:
    text: str
    cited: tuple[int, ...]


class Answerer(Protocol):
    """Writes an answer from retrieved passages without a model (the extractive answerer,
    and the fallback when a model's reply cannot be read); `cited` indexes the passages it
    relied on."""

    def answer(
        self, question: str, passages: Sequence[Passage], history: Sequence[Turn]
    ) -> Answer: ...


class ChatModel(Protocol):
    """A language model behind a chat API (Bedrock Converse, OpenAI-compatible chat
    completions), given a grounded prompt (domain/prompting.py) and returning its reply as
    text. `name` is the kind (`bedrock`, `openai`), `model_id` the configured model, `limits`
    its prompt budget and reply cap. Raises ModelUnavailable when it may answer later
    (throttled, timed out, unreachable, 5xx) and PermanentError when it will not (refused
    credentials, unknown model, a refused request). No message carries a credential."""

    name: str
    model_id: str
    limits: ModelLimits

    def complete(self, prompt: Prompt) -> Completion: ...


class Embedder(Protocol):
    """Turns texts into unit-length vectors of `dimensions` floats, one per text, in order.

    `model_id` names the model and its settings (e.g. ``minilm-l6-v2``); it is part of every
    stored vector's key, so vectors of two models never mix. Raises TransientError when the
    model service may succeed on a retry, StrataError subclasses for permanent failures."""

    model_id: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """A (len(texts), dimensions) float32 matrix whose rows have unit length."""
        ...


class EventLog(Protocol):
    """Append-only repository events, listed newest first (DynamoDB)."""

    def append(
        self,
        repository_id: str,
        type: str,
        data: Mapping[str, object],
        at: float,
        actor: str | None = None,
    ) -> Event:
        """`actor`: who caused it (`key:<id>`, `github`, `sweep`); None for the workers."""
        ...

    def list(self, repository_id: str, limit: int, after: str | None = None) -> EventPage:
        """Up to `limit` events older than the key `after` (None: the newest)."""
        ...


class EventFeed(Protocol):
    """The recorded events (the DynamoDB table) read by time, for the archive (ADR 23)."""

    def repository_ids(self) -> Iterator[str]:
        """Every repository that may have events."""
        ...

    def between(self, repository_id: str, after_ms: int, upto_ms: int) -> list[Event]:
        """Its events with after_ms < time <= upto_ms (epoch ms), oldest first."""
        ...


class EventArchive(Protocol):
    """Events as Parquet in S3, partitioned by day and repository (ADR 23)."""

    def archived_ids(self, day: str, repository_id: str) -> set[str]:
        """The event ids already in the partition."""
        ...

    def write(self, day: str, repository_id: str, events: Sequence[Event]) -> str | None:
        """Write one file of `events` (all of the partition, ids new to it) named by its ids;
        the key, or None when that very file was written already."""
        ...

    def days(self, repository_id: str) -> list[str]:
        """The days (YYYY-MM-DD) with archived events of the repository, sorted."""
        ...

    def read(self, repository_id: str, days: Iterable[str]) -> list[Event]:
        """The repository's archived events of those days (any order, as stored)."""
        ...

    def read_all(self, until_day: str | None = None) -> Iterator[Event]:
        """Every archived event of every day up to `until_day` (inclusive; None: all)."""
        ...

    def watermark(self) -> int:
        """Epoch ms up to which the compactor has archived the table (0: never ran)."""
        ...

    def set_watermark(self, at_ms: int) -> None: ...

    def first_day(self) -> str | None:
        """The first archived day (None: an empty archive)."""
        ...

    def compact_day(self, day: str) -> tuple[int, int]:
        """Merge each of the day's partitions into one file: (partitions, files removed)."""
        ...

    def compacted_through(self) -> str | None: ...

    def set_compacted_through(self, day: str) -> None: ...


class ReadModelStore(Protocol):
    """Where a replay writes the repository read models it rebuilt (an empty table)."""

    def is_empty(self) -> bool: ...

    def put(self, model: ReadModel) -> None: ...

    def all(self) -> Iterator[ReadModel]: ...


class DeliveryLog(Protocol):
    """Webhook delivery ids already handled, so a redelivery does nothing twice."""

    def claim(self, delivery_id: str, *, event: str, now: float, expires_at: float) -> bool:
        """Record the delivery; False when it was recorded already."""
        ...

    def release(self, delivery_id: str) -> None:
        """Forget a claim whose handling failed, so GitHub's redelivery is handled."""
        ...


class SecretStore(Protocol):
    """Named secret strings (Secrets Manager). Raises NotFound for an unknown name."""

    def read(self, name: str) -> str: ...


class KeyStore(Protocol):
    """API key records (DynamoDB), by key id. Never holds a secret, only its digest."""

    def create(self, key: ApiKey) -> None:
        """Store a new key; raises AlreadyExists when the id is taken."""
        ...

    def get(self, key_id: str) -> ApiKey | None:
        """Strongly consistent: a revocation is seen by the next request."""
        ...

    def find(self, tenant: str | None = None) -> Sequence[ApiKey]:
        """Every key (of one tenant), revoked ones included, oldest first."""
        ...

    def revoke(self, key_id: str, now: float, by: str) -> ApiKey | None:
        """Mark revoked unless it is already (then unchanged); None for an unknown id."""
        ...

    def touch(self, key_id: str, now: float, interval: float) -> bool:
        """Set `last_used_at` to `now` only if it is absent or at least `interval` old."""
        ...


class RateLimitStore(Protocol):
    """Token buckets by id (DynamoDB); an absent bucket is a full one (domain/rate_limits)."""

    def get(self, bucket_id: str) -> Bucket | None: ...

    def put(
        self, bucket_id: str, bucket: Bucket, *, previous: int | None, expires_at: float
    ) -> bool:
        """Write if the stored version is still `previous` (None: no bucket stored); False
        when another writer got there first."""
        ...


class CheckStore(Protocol):
    """Check runs by (repository, check id), listed newest first (DynamoDB). Transitions are
    conditional: queued -> running -> passed | failed | error, never out of an ending."""

    def create(self, check: Check) -> None:
        """Store a new queued check; AlreadyExists when its id is taken."""
        ...

    def get(self, repository_id: str, check_id: str) -> Check | None: ...

    def recent(self, repository_id: str, limit: int) -> list[Check]:
        """The repository's newest checks, newest first."""
        ...

    def start(
        self,
        repository_id: str,
        check_id: str,
        *,
        total_batches: int,
        stats: Mapping[str, object],
        now: float,
    ) -> bool:
        """queued -> running with its fan-out size (outstanding = total_batches) and the
        plan's stats; False when it was not queued (started already, or ended)."""
        ...

    def complete_batch(
        self,
        repository_id: str,
        check_id: str,
        batch: int,
        *,
        counts: Mapping[str, int],
        now: float,
    ) -> int | None:
        """Count a batch once (adding its counters) while the check runs: outstanding after,
        or None when this batch was counted already or the check is not running."""
        ...

    def finish(
        self,
        repository_id: str,
        check_id: str,
        status: CheckStatus,
        *,
        message: str | None,
        now: float,
    ) -> bool:
        """End an unfinished check (queued or running); False when it had ended already."""
        ...


class IdempotencyStore(Protocol):
    """Idempotency records by (scope, key) (DynamoDB), kept until `expires_at`; every write
    is conditional (domain/idempotency.py)."""

    def claim(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        """Store `record` unless one with its scope and key is stored and unexpired at `now`:
        None when stored, else the record found."""
        ...

    def take_over(self, found: IdempotencyRecord, owner: str) -> IdempotencyRecord | None:
        """Make `owner` the record's owner if it has no outcome and is still owned as
        `found` says; the record after, or None when it changed meanwhile."""
        ...

    def plan(self, scope: str, key: str, *, owner: str, planned: str) -> bool:
        """Note what the owner is about to make irreversible; False unless it still owns
        the record and the record has no outcome."""
        ...

    def finish(self, scope: str, key: str, *, owner: str, outcome: str) -> bool:
        """Keep the answer for good; False unless it still owns an unanswered record."""
        ...

    def release(self, scope: str, key: str, *, owner: str) -> None:
        """Forget an unanswered record its owner gave up on (the request failed in a way a
        retry may fix); nothing when someone else owns it or it has an outcome."""
        ...

    def get(self, scope: str, key: str) -> IdempotencyRecord | None: ...


class Toolchain(Protocol):
    """Runs real build tools on files materialized in a scratch directory, without network,
    under time, memory and output limits (adapters/subprocess_toolchain.py)."""

    def versions(self) -> Mapping[str, str]:
        """Tool id (domain/build_units.py) -> version, for every tool this deployment runs."""
        ...

    def run(self, runs: Sequence[BuildRun]) -> list[UnitResult]:
        """One result per run, in order. Never raises for what a tool does: a tool killed
        for time or memory, or one that could not start, gives an undecided result."""
        ...


class ListenerStore(Protocol):
    """WebSocket connections, their subscriptions and callback URLs, by repository
    (adapters/dynamo_listeners.py). Everything expires: a connection `ttl` after it opened
    (API Gateway closes it within 2 hours), a callback `ttl` after its last request."""

    def connect(self, connection: Connection, expires_at: float) -> None: ...

    def connection(self, connection_id: str) -> Connection | None: ...

    def subscribe(self, connection: Connection, repository_id: str, expires_at: float) -> None:
        """Add the repository to the connection's and list the connection as its listener."""
        ...

    def unsubscribe(self, connection: Connection, repository_id: str) -> None: ...

    def disconnect(self, connection_id: str) -> None:
        """Forget the connection and every subscription of it (idempotent)."""
        ...

    def listeners(self, repository_id: str) -> list[Listener]: ...

    def register_callback(self, registration: CallbackRegistration, expires_at: float) -> None:
        """The tenant's callback of the repository (replacing its previous one)."""
        ...

    def callback(self, repository_id: str, tenant: str) -> CallbackRegistration | None: ...


class ConnectionPoster(Protocol):
    """API Gateway's management API of WebSocket connections (apigatewaymanagementapi)."""

    def post(self, endpoint: str, connection_id: str, data: bytes) -> None:
        """Raises ConnectionGone when the connection no longer exists (410)."""
        ...

    def close(self, endpoint: str, connection_id: str) -> None: ...


class CallbackTransport(Protocol):
    """Resolves a callback host and POSTs to the address that was checked (no redirects)."""

    def resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses; [] when it does not resolve."""
        ...

    def post(
        self, target: CallbackTarget, address: str, body: bytes, headers: Mapping[str, str]
    ) -> int:
        """The receiver's HTTP status. Raises TransientError when it cannot be reached."""
        ...


class LiveFeed(Protocol):
    """Pushes what happens to a repository to its listeners, best effort: it never raises."""

    def published(self, event: Event) -> None:
        """An event was recorded."""
        ...

    def progressed(self, repository_id: str) -> None:
        """A job's progress counters moved."""
        ...
