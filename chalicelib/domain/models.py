"""Domain records: what the stores hold and the services pass around. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    IDLE = "idle"
    INDEXING = "indexing"
    READY = "ready"
    ERROR = "error"


class JobState(StrEnum):
    PLANNING = "planning"
    PARSING = "parsing"
    FINALIZING = "finalizing"
    EMBEDDING = "embedding"  # published lexically; its vectors follow (ADR 11, revised)
    PUBLISHED = "published"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class VectorState(StrEnum):
    """Where the served generation's vectors stand (a sub-state of `ready`, ADR 11)."""

    NONE = "none"  # no vectors, and none coming (no embedder configured)
    EMBEDDING = "embedding"  # searchable lexically; its vectors are being made
    COMPLETE = "complete"  # every live chunk has its vector
    FAILED = "failed"  # the job that was to make them failed; a new index retries


@dataclass(frozen=True)
class Stats:
    total_files: int = 0
    total_size: int = 0
    languages: Mapping[str, int] = field(default_factory=dict)
    extensions: Mapping[str, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    chunks: int = 0
    blobs_parsed: int = 0
    blobs_reused: int = 0
    chunks_embedded: int = 0  # by this generation's job (0: every vector was cached)
    vectors_reused: int = 0  # chunk vectors taken over from a changed file's previous blob
    embedding_model: str | None = None

    def to_public(self) -> dict[str, object]:
        return {
            "totalFiles": self.total_files,
            "totalSize": self.total_size,
            "languages": dict(self.languages),
            "extensions": dict(self.extensions),
            "skipped": dict(self.skipped),
            "chunks": self.chunks,
            "blobsParsed": self.blobs_parsed,
            "blobsReused": self.blobs_reused,
            "chunksEmbedded": self.chunks_embedded,
            "vectorsReused": self.vectors_reused,
            "embeddingModel": self.embedding_model,
        }

    def to_dict(self) -> dict[str, object]:
        return self.to_public()

    @classmethod
    def from_dict(cls, d: Mapping[str, object] | None) -> Stats:
        if not d:
            return cls()

        def count(key: str) -> int:
            v = d.get(key, 0)
            return int(v) if isinstance(v, int | float | str) else 0

        def counts(key: str) -> dict[str, int]:
            v = d.get(key) or {}
            return {str(k): int(n) for k, n in v.items()} if isinstance(v, Mapping) else {}

        return cls(
            total_files=count("totalFiles"),
            total_size=count("totalSize"),
            languages=counts("languages"),
            extensions=counts("extensions"),
            skipped=counts("skipped"),
            chunks=count("chunks"),
            blobs_parsed=count("blobsParsed"),
            blobs_reused=count("blobsReused"),
            chunks_embedded=count("chunksEmbedded"),
            vectors_reused=count("vectorsReused"),
            embedding_model=str(d["embeddingModel"]) if d.get("embeddingModel") else None,
        )


@dataclass(frozen=True)
class Generation:
    """A published, immutable index of one commit: where its manifest lives and its fence."""

    key: str
    sha: str
    fence: int


@dataclass(frozen=True)
class Repository:
    """The light metadata item: everything the status endpoint needs, nothing more."""

    id: str
    remote: str
    branch: str | None = None
    is_local: bool = False
    status: Status = Status.IDLE
    indexed_sha: str | None = None
    head_sha: str | None = None
    requested_sha: str | None = None
    force_requested: bool = False
    generation: Generation | None = None
    stats: Stats = field(default_factory=Stats)
    indexed_at: float | None = None
    requested_at: float | None = None
    updated_at: float | None = None
    error: str | None = None
    files_processed: int = 0
    num_files: int = 0
    files_embedded: int | None = None  # None: the running job embeds nothing
    job_id: str | None = None
    # The tenants that registered it (domain/tenancy.py), and each one's git token, sealed.
    tenants: frozenset[str] = frozenset()
    sealed_tokens: Mapping[str, str] = field(default_factory=dict, repr=False)
    uses_server_token: bool = False  # an admin's registration relied on the server token
    auto_refresh: bool | None = None  # None: the default for its kind (remote yes, local no)
    branch_deleted_at: float | None = None  # a push deleted the tracked branch

    @property
    def vectors(self) -> VectorState:
        """Derived from the item alone: the served generation's stats name their embedding
        model once its vectors are published; `files_embedded` is None when the latest job
        embeds nothing."""
        if self.stats.embedding_model and self.generation is not None:
            return VectorState.COMPLETE
        if self.files_embedded is None:
            return VectorState.NONE
        if self.status is Status.ERROR:
            return VectorState.FAILED
        if self.status is Status.IDLE:
            return VectorState.NONE
        return VectorState.EMBEDDING


@dataclass(frozen=True)
class Lease:
    lock_id: str
    owner: str
    fence: int
    lease_until: float


@dataclass(frozen=True)
class Job:
    job_id: str
    repository_id: str
    sha: str
    fence: int
    owner: str
    base_generation: Generation | None = None
    state: JobState = JobState.PLANNING
    total_batches: int = 0
    outstanding: int = 0
    num_files: int = 0
    files_processed: int = 0
    blobs_parsed: int = 0
    blobs_reused: int = 0
    created_at: float = 0.0
    chunks_embedded: int = 0
    vectors_reused: int = 0

    @property
    def lease(self) -> Lease:
        """The lease this job was created under (lease_until is refreshed by heartbeats)."""
        return Lease(lock_id=self.repository_id, owner=self.owner, fence=self.fence, lease_until=0)


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a git tree, read without a checkout."""

    path: str
    oid: str
    mode: int
    size: int


@dataclass(frozen=True)
class Chunk:
    """A span of one file: 1-based inclusive lines, and the terms BM25 counts in it."""

    start_line: int
    end_line: int
    kind: str
    symbol: str | None
    terms: Mapping[str, int]


@dataclass(frozen=True)
class Symbol:
    """A definition in one file. Lines are 1-based and inclusive.

    `qualified_name` is the name as other code refers to it from outside its file's scopes
    (`Outer.method`, Lean's `Namespace.theorem_name`); `container` is the enclosing symbol's
    qualified name (None at top level). Lean declarations also carry the spans of their
    statement (signature) and proof/body, and `incomplete` when they use `sorry`/`admit`."""

    name: str
    qualified_name: str
    kind: str
    start_line: int
    end_line: int
    container: str | None = None
    statement: tuple[int, int] | None = None
    body: tuple[int, int] | None = None
    incomplete: bool = False


@dataclass(frozen=True)
class Reference:
    """A use of a name: an import, a call, or a name used. `source` is the qualified name of
    the enclosing symbol (None at module level). `scopes` are the prefixes under which the
    name may resolve, most specific first (Lean: enclosing namespaces, then `open`ed ones);
    `role` says where in a declaration it appears (Lean: "statement" or "proof")."""

    name: str
    kind: str
    line: int
    source: str | None = None
    scopes: tuple[str, ...] = ()
    role: str | None = None


@dataclass(frozen=True)
class BlobArtifact:
    """Everything derived from one blob's bytes by one parser version (content-addressed)."""

    oid: str
    language: str
    parser_version: str
    size: int
    line_count: int
    skipped: str | None
    text: str
    chunks: tuple[Chunk, ...]
    symbols: tuple[Symbol, ...] = ()
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class FileEntry:
    path: str
    oid: str
    language: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A generation's table of contents: files at the commit, stats, and segment objects."""

    repository_id: str
    sha: str
    fence: int
    parser_version: str
    created_at: float
    files: tuple[FileEntry, ...]
    stats: Stats
    segments: Mapping[str, str]
    tombstones: tuple[str, ...] = ()
    embedding_model: str | None = None  # the model of its vector segments, if any


@dataclass(frozen=True)
class FileRecord:
    """What a generation remembers of one file so the next one need not re-read its
    artifact: identity, whether it was skipped by content, its chunk count, and the symbols
    and references the graph is built from."""

    path: str
    oid: str
    language: str
    size: int
    skipped: str | None
    chunks: int
    symbols: tuple[Symbol, ...] = ()
    references: tuple[Reference, ...] = ()
