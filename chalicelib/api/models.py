"""The wire contract: one pydantic model per request body and per response of every route.

These models are the single source of the API's shapes: `api/` validates request bodies and
serialises responses with them, `api/openapi.py` turns them into the OpenAPI 3.1 document,
and clients (`chalicelib/client/`, the MCP server) import them. So this module imports
nothing but pydantic and the standard library: no Chalice, no services, no domain.

Wire names are camelCase (`repositoryId`, `lagSeconds`); Python names are snake_case, mapped
by an alias generator, and either name is accepted when building a model in Python. Request
models forbid unknown fields and are strict (no "5" for 5, no true for 1). Response models
are lenient about extra fields (a newer server may add one) and are dumped with
`dump()`, which keeps a field given as null and omits one never set, so the JSON on the wire
is what the routes returned before these models existed.

Rules the schema cannot say (exactly one scope of a search, exactly one way to name a
repository) are in the model descriptions; the services' own requests enforce them too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# Bounds shared with the services (tests check that they agree).
MAX_K = 100
MAX_QUERY = 4000  # a pasted change request with its body (commit messages run to ~3,000)
MAX_SCOPE = 50
MAX_QUESTION = 2000
MAX_REPOSITORY_ID = 300
MAX_TOKEN_LENGTH = 1024
MAX_NOTIFY_URL = 2048
MAX_KEY_NAME = 100
MAX_CHECK_PATHS = 200
MAX_CHECK_PATH = 1024
MAX_CHECK_LIST = 50
MAX_COMMIT_FILES = 200
MAX_COMMIT_MESSAGE = 65536
MAX_AUTHOR_NAME = 200
MAX_AUTHOR_EMAIL = 254
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"
SHA_PATTERN = r"^[0-9a-f]{40}$"

REPOSITORY_ID_PATTERN = (
    r"^(github|git|local):[A-Za-z0-9][A-Za-z0-9._-]{0,99}(:[A-Za-z0-9][A-Za-z0-9._-]{0,99}){0,15}$"
)
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
CONVERSATION_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
OWNER_PATTERN = r"^[A-Za-z0-9._-]+$"
BRANCH_PATTERN = r"^[A-Za-z0-9._/-]{1,200}$"

RepositoryId = Annotated[
    str,
    Field(
        max_length=MAX_REPOSITORY_ID,
        pattern=REPOSITORY_ID_PATTERN,
        description="`github:owner:repo`, `git:host:path…` or `local:…`",
        examples=["github:octocat:hello-world"],
    ),
]
Lines = Annotated[
    list[int],
    Field(min_length=2, max_length=2, description="[first line, last line], 1-based, inclusive"),
]
RepositoryStatus = Literal["idle", "indexing", "ready", "error"]
VectorsState = Literal["none", "embedding", "complete", "failed"]
SemanticCoverage = Literal["complete", "partial", "none"]
SearchMode = Literal["hybrid", "lexical", "semantic", "symbol"]
CheckLevelName = Literal["syntax", "build"]
CheckState = Literal["queued", "running", "passed", "failed", "error"]
ProofState = Literal["proved", "sorry", "blocked", "error", "unchecked"]
ScopeLabel = Literal["read", "index", "admin"]


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """The JSON object sent on the wire."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class RequestModel(WireModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


class ResponseModel(WireModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


# --- errors and readiness --------------------------------------------------------------------


class ErrorDetail(ResponseModel):
    code: str = Field(description="snake_case, stable", examples=["invalid_request"])
    message: str = Field(description="for people; never a secret", examples=["unknown fields: x"])


class ErrorResponse(ResponseModel):
    """Every 4xx and 5xx body (413, 415, 405 and 500 included)."""

    error: ErrorDetail


class NotReadyResponse(ResponseModel):
    """202: the repository's first index is being built; poll status, then ask again."""

    status: Literal["indexing"]
    message: str
    estimated_time: int = Field(description="a rough wait, in seconds", examples=[30])


class RepositoryNotReadyError(ResponseModel):
    """400 from a query route: the repository has nothing to answer from (never indexed, or
    its only index failed)."""

    status: Literal["idle", "error"]
    message: str
    error: ErrorDetail


# --- health ----------------------------------------------------------------------------------


class HealthResponse(ResponseModel):
    status: Literal["ok"]
    service: str = Field(examples=["strata"])


# --- repositories ----------------------------------------------------------------------------


class IndexRequest(RequestModel):
    """Name the repository in exactly one way: `owner` and `repo` (GitHub), `repositoryId`,
    or `url`."""

    owner: str | None = Field(default=None, examples=["octocat"])
    repo: str | None = Field(default=None, examples=["hello-world"])
    repository_id: str | None = Field(default=None, max_length=MAX_REPOSITORY_ID)
    url: str | None = Field(default=None, examples=["https://github.com/octocat/hello-world"])
    branch: str | None = Field(default=None, pattern=BRANCH_PATTERN)
    access_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TOKEN_LENGTH,
        description="for a private repository; stored sealed, never returned",
    )
    force: bool = Field(default=False, description="index again even at the indexed SHA")
    notify_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NOTIFY_URL,
        description=(
            "an https URL that receives this repository's GenerationPublished and IndexFailed"
            " events as signed POSTs (X-Strata-Signature-256: sha256=HMAC-SHA256 of the body"
            " under notifySecret); public hosts only; kept for the caller's tenant until a"
            " week after its last request; give notifySecret with it"
        ),
        examples=["https://ci.example.com/strata-hook"],
    )
    notify_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        repr=False,
        description=(
            "the secret notifyUrl's deliveries are signed with; stored sealed, never returned"
        ),
    )


class RepositoryStats(ResponseModel):
    total_files: int
    total_size: int
    languages: dict[str, int]
    extensions: dict[str, int]
    skipped: dict[str, int]
    chunks: int
    blobs_parsed: int
    blobs_reused: int
    chunks_embedded: int
    vectors_reused: int
    embedding_model: str | None


class IndexResponse(ResponseModel):
    repository_id: str
    status: RepositoryStatus
    message: str
    indexed_at: str | None = Field(description="ISO 8601, UTC")
    stats: RepositoryStats


class Progress(ResponseModel):
    files_processed: int
    num_files: int
    files_embedded: int | None


class StatusResponse(ResponseModel):
    """Never 404: a repository unknown to the caller reads as `idle`."""

    repository_id: str
    status: RepositoryStatus
    branch: str | None
    indexed_at: str | None
    indexed_sha: str | None
    head_sha: str | None
    lag_seconds: int
    stats: RepositoryStats
    progress: Progress
    error: str | None
    vectors: VectorsState = Field(
        default="none",
        description=(
            "the served commit's vectors: `embedding` while they are made (status is `ready`"
            " as soon as lexical search works; progress.filesEmbedded counts them), "
            "`complete`, `failed` (a new index retries), or `none` (no embedder)"
        ),
    )


# --- search and chat -------------------------------------------------------------------------


class Freshness(ResponseModel):
    """Which commit answered, and how far it lags the branch head."""

    indexed_sha: str | None
    head_sha: str | None
    stale: bool
    lag_seconds: int


class SearchRequest(RequestModel):
    """Give exactly one scope: `repositoryId`, `repositoryIds` or `owner`."""

    repository_id: RepositoryId | None = None
    repository_ids: list[RepositoryId] | None = Field(
        default=None, min_length=1, max_length=MAX_SCOPE
    )
    owner: str | None = Field(default=None, min_length=1, pattern=OWNER_PATTERN)
    query: str = Field(min_length=1, max_length=MAX_QUERY, examples=["where is the cart total"])
    k: int = Field(default=10, ge=1, le=MAX_K)
    mode: SearchMode = "hybrid"

    @model_validator(mode="after")
    def _one_scope(self) -> SearchRequest:
        scopes = (self.repository_id, self.repository_ids, self.owner)
        if sum(s is not None for s in scopes) != 1:
            raise ValueError("give exactly one scope: repositoryId, repositoryIds or owner")
        return self


class SearchHit(ResponseModel):
    repository_id: str
    path: str
    lines: Lines
    score: float
    snippet: str
    language: str
    symbol: str | None = Field(default=None, description="symbol mode: the matched symbol")
    kind: str | None = Field(default=None, description="symbol mode: its kind")
    signals: dict[str, Any] | None = Field(default=None, description="hybrid: fused signals")


class RepositoryFreshness(Freshness):
    repository_id: str


class Unavailable(ResponseModel):
    repository_id: str
    status: str
    message: str


class SearchResponse(ResponseModel):
    """One repository (`repositoryId`): its freshness at the top level. A scope of several
    (`owner` or `repositoryIds`): `repositories` that answered, `unavailable` ones."""

    repository_id: str | None = None
    repository_ids: list[str] | None = None
    owner: str | None = None
    query: str
    mode: SearchMode
    hits: list[SearchHit]
    indexed_sha: str | None = None
    head_sha: str | None = None
    stale: bool | None = None
    lag_seconds: int | None = None
    repositories: list[RepositoryFreshness] | None = None
    unavailable: list[Unavailable] | None = None
    semantic: SemanticCoverage = Field(
        default="none",
        description=(
            "hybrid, semantic: whether vectors covered every file (`complete`), some or none"
            " yet while they are embedded (`partial`: the semantic signal is used only where"
            " they exist), or were not used (`none`)"
        ),
    )


class ChatRequest(RequestModel):
    repository_id: RepositoryId
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION, examples=["where is a generation published?"]
    )
    conversation_id: str | None = Field(
        default=None, pattern=CONVERSATION_PATTERN, description="continue a conversation"
    )


class Source(ResponseModel):
    path: str
    lines: Lines


class ChatResponse(Freshness):
    """An answer in prose. Every source was cited by the answerer and verified against the
    blob at the indexed commit; citations that did not verify were dropped and counted."""

    response: str
    conversation_id: str
    sources: list[Source] = Field(description="verified against the blob at the indexed commit")
    answerer: str = Field(
        default="extractive",
        description="who wrote `response`: `bedrock`, `openai`, or `extractive` (no model, or a"
        " fallback)",
        examples=["bedrock"],
    )
    model: str | None = Field(
        default=None,
        description="the language model asked, null when none is configured",
        examples=["amazon.nova-lite-v1:0"],
    )
    dropped_citations: int = Field(
        default=0, ge=0, description="citations dropped because they did not verify"
    )
    fallback: Literal["unparseable", "leaked_prompt"] | None = Field(
        default=None,
        description="why the extractive answer replaced the model's: its reply was not the"
        " JSON asked for (`unparseable`) or repeated its instructions (`leaked_prompt`)",
    )


# --- graph -----------------------------------------------------------------------------------


class GraphNode(ResponseModel):
    name: str
    kind: str
    path: str
    lines: Lines
    score: float | None = Field(default=None, description="symbols: match score")
    distance: int | None = Field(default=None, description="neighbourhood: hops from the node")
    external: list[str] | None = Field(default=None, description="unresolved references")
    checked: ProofState | None = Field(
        default=None,
        description=(
            "sorry and node routes, Lean declarations: `error` (a check found an error in it),"
            " `sorry`, `blocked` (depends on an error or a sorry), `proved` (a build with"
            " Lean's toolchain passed it), else `unchecked` (a syntax check never proves)"
        ),
    )


class CheckRef(ResponseModel):
    """The check whose findings the `checked` statuses come from."""

    check_id: str
    level: CheckLevelName
    sha: str
    status: CheckState


class SymbolsResponse(Freshness):
    repository_id: str
    symbols: list[GraphNode]


class NodeResponse(Freshness):
    repository_id: str
    node: GraphNode
    direction: Literal["dependencies", "dependents"]
    depth: int
    nodes: list[GraphNode]
    check: CheckRef | None = Field(
        default=None, description="where Lean declarations' `checked` comes from (none: null)"
    )


class Wave(ResponseModel):
    level: int
    nodes: list[GraphNode]
    cycles: list[list[GraphNode]]


class WavesResponse(Freshness):
    repository_id: str
    waves: list[Wave]


class SorryResponse(Freshness):
    repository_id: str
    incomplete: list[GraphNode]
    blocked: list[GraphNode]
    errors: list[GraphNode] = Field(
        default_factory=list, description="Lean declarations the newest check found broken"
    )
    check: CheckRef | None = Field(
        default=None, description="the newest finished check of the indexed commit, if any"
    )


# --- events ----------------------------------------------------------------------------------


class EventView(ResponseModel):
    id: str
    type: str = Field(examples=["IndexRequested"])
    at: str = Field(description="ISO 8601, UTC, milliseconds")
    actor: str | None
    data: dict[str, Any]


class EventsResponse(ResponseModel):
    repository_id: str
    events: list[EventView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


# --- API keys --------------------------------------------------------------------------------


class CreateKeyRequest(RequestModel):
    tenant: str = Field(pattern=TENANT_PATTERN, examples=["acme"])
    scope: ScopeLabel = Field(examples=["read"])
    name: str | None = Field(default=None, max_length=MAX_KEY_NAME, examples=["ci"])


class KeyView(ResponseModel):
    key_id: str
    tenant: str
    scope: ScopeLabel
    name: str | None
    created_at: str | None
    created_by: str | None
    revoked_at: str | None
    revoked_by: str | None
    last_used_at: str | None


class CreatedKey(KeyView):
    key: str = Field(description="the secret: shown in this answer only")


class KeyList(ResponseModel):
    keys: list[KeyView]


# --- webhooks --------------------------------------------------------------------------------


class WebhookResponse(ResponseModel):
    """200 for `pong` and `duplicate`; 202 for `accepted` and `ignored`."""

    status: Literal["pong", "duplicate", "accepted", "ignored"]
    delivery_id: str | None = None
    repository_id: str | None = None
    reason: str | None = None
    sha: str | None = None
    index_status: RepositoryStatus | None = None
    branch_deleted: str | None = None
    index_dropped: bool | None = None


# --- checks ----------------------------------------------------------------------------------


class CheckRequest(RequestModel):
    """Check files of a commit: `syntax` (in-process parsers, every language Strata parses)
    or `build` (the toolchains this deployment has). `paths` name files or directories,
    relative to the repository root (no `..`, no leading `/`, nothing in `.git`)."""

    level: CheckLevelName = Field(examples=["syntax"])
    sha: str | None = Field(
        default=None, pattern=SHA_PATTERN, description="the indexed commit when absent"
    )
    paths: list[Annotated[str, Field(min_length=1, max_length=MAX_CHECK_PATH)]] | None = Field(
        default=None, max_length=MAX_CHECK_PATHS, description="the whole tree when absent"
    )


class CheckAccepted(ResponseModel):
    """202: the check is queued; poll GET /repositories/{id}/checks/{checkId}."""

    check_id: str
    repository_id: str
    status: CheckState
    sha: str
    level: CheckLevelName


class DiagnosticView(ResponseModel):
    """A finding: 1-based lines and character columns, the end exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: Literal["error", "warning"]
    message: str
    tool: str = Field(examples=["tree-sitter", "python", "gcc"])


class CheckStats(ResponseModel):
    files: int = Field(description="files the check looked at")
    units: int = Field(description="results found or made (one per file at syntax level)")
    reused: int = Field(description="results reused by content: no tool ran for them")
    tool_runs: int = Field(description="results made by this run")
    errors: int
    warnings: int
    undecided: int = Field(description="build units killed (time, memory) or crashed")
    unchecked: int = Field(description="files with no check at this level (not code)")
    batches: int
    skipped: dict[str, int] = Field(description="not looked at, by reason")
    unsupported: dict[str, int] = Field(description="build: files whose language has no tool")


class CheckSummary(ResponseModel):
    check_id: str
    repository_id: str
    status: CheckState
    sha: str
    level: CheckLevelName
    paths: list[str] = Field(description="empty: the whole tree")
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")
    message: str | None = Field(description="why the check ended in `error`")
    stats: CheckStats


class CheckView(CheckSummary):
    diagnostics: list[DiagnosticView] = Field(
        description="once ended: ordered by path and position, at most 1000"
    )
    truncated: bool = Field(description="more diagnostics were found than are listed")


class CheckList(ResponseModel):
    repository_id: str
    checks: list[CheckSummary] = Field(description="newest first, without diagnostics")


# --- commits ---------------------------------------------------------------------------------


class CommitAuthor(RequestModel):
    name: str = Field(min_length=1, max_length=MAX_AUTHOR_NAME, examples=["Ada Lovelace"])
    email: str = Field(min_length=1, max_length=MAX_AUTHOR_EMAIL, examples=["ada@example.com"])


class CommitFileChange(RequestModel):
    """One file: its new text (`content`, UTF-8), its new bytes (`contentBase64`), or its
    deletion (`delete: true`); exactly one of the three. `path` is relative to the
    repository root: no `..`, no leading `/`, no backslashes, nothing in `.git`."""

    path: str = Field(min_length=1, max_length=MAX_CHECK_PATH, examples=["src/app.py"])
    content: str | None = None
    content_base64: str | None = None
    delete: Literal[True] | None = None


class CommitRequest(RequestModel):
    """Commit `changes` on top of `baseSha` to `branch`, which must still be at `baseSha`
    when the commit is pushed (compare-and-swap). `check: "syntax"` refuses the commit when
    the changed files have syntax errors; `"build"` does so too, then queues a build check
    of the new commit. Send an `Idempotency-Key` header to make a retry safe: the same key
    with the same request gets the same answer."""

    branch: str = Field(pattern=BRANCH_PATTERN, examples=["main"])
    base_sha: str = Field(pattern=SHA_PATTERN, description="the commit the changes apply to")
    message: str = Field(min_length=1, max_length=MAX_COMMIT_MESSAGE)
    author: CommitAuthor
    changes: list[CommitFileChange] = Field(min_length=1, max_length=MAX_COMMIT_FILES)
    check: CheckLevelName | None = None


class CommitResponse(ResponseModel):
    """200: the branch moved from `baseSha` to `sha`. `indexStatus` is the index's answer
    to the new commit (`untracked`: the index follows another branch); `checkId` names the
    build check queued for it."""

    repository_id: str
    branch: str
    base_sha: str
    sha: str
    index_status: Literal["idle", "indexing", "ready", "error", "untracked"]
    check_id: str | None = None
    message: str


class CommitConflict(ResponseModel):
    """409: the branch is not at `baseSha` (it is at `currentSha`; null when it is gone):
    nothing was committed. Rebase the changes on `currentSha` and send them again."""

    error: ErrorDetail
    current_sha: str | None = None


class CommitRejected(ResponseModel):
    """422: the syntax check found errors in the changed files (`diagnostics`, at most 500):
    nothing was committed; or the Idempotency-Key was sent before with another request."""

    error: ErrorDetail
    diagnostics: list[DiagnosticView] = Field(default_factory=list)
    truncated: bool = False
