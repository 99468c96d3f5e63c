"""Settings: the one place that reads the environment.

Resource names derive from a stage prefix (`.chalice/config.json` sets it per stage);
any single name can still be overridden. An explicit argument beats an environment variable:
tests and the local stack build `Settings(...)` directly or use `replace()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

TABLES = (
    "repositories",
    "locks",
    "jobs",
    "conversations",
    "events",
    "deliveries",
    "keys",
    "rate_limits",
    "tenants",
    "checks",
    "idempotency",
    "listeners",
)
QUEUES = ("index", "parse", "embed", "check", "callback")


@dataclass(frozen=True)
class ResourceNames:
    bucket: str
    tables: Mapping[str, str]
    queues: Mapping[str, str]
    dead_letter_queues: Mapping[str, str]
    token_key_alias: str
    webhook_secret: str = ""
    api_key_pepper: str = ""

    @classmethod
    def for_prefix(cls, prefix: str, bucket: str | None = None) -> ResourceNames:
        return cls(
            bucket=bucket or f"{prefix}-index",
            tables={t: f"{prefix}-{t}" for t in TABLES},
            queues={q: f"{prefix}-{q}" for q in QUEUES},
            dead_letter_queues={q: f"{prefix}-{q}-dlq" for q in QUEUES},
            token_key_alias=f"alias/{prefix}-tokens",
            webhook_secret=f"{prefix}/webhooks/github",
            api_key_pepper=f"{prefix}/api-keys",
        )


def _items(value: str | None, separator: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None or not value.strip():
        return default
    return tuple(item.strip() for item in value.split(separator) if item.strip())


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# What version probes of the build tools may read (rustup and elan find their toolchains
# from these); the tools themselves run with none of them (adapters/subprocess_toolchain.py).
_TOOLCHAIN_ENV = ("HOME", "RUSTUP_HOME", "CARGO_HOME", "ELAN_HOME", "JAVA_HOME")


def _check_tools(value: str | None) -> tuple[str, ...] | None:
    """STRATA_CHECK_TOOLS: unset or "auto" = every tool found; "none" = no build tool."""
    if value is None or value.strip().lower() in ("", "auto"):
        return None
    if value.strip().lower() == "none":
        return ()
    return _items(value, ",", ())


def _user_cache(e: Mapping[str, str]) -> str:
    base = e.get("XDG_CACHE_HOME") or os.path.join(
        e.get("HOME") or os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "strata", "embedders")


@dataclass(frozen=True)
class Settings:
    region: str = "us-east-1"
    resource_prefix: str = "strata-dev"
    bucket_name: str | None = None
    endpoint_url: str | None = None
    git_cache_dir: str = "/tmp/strata-git"
    git_cache_max_bytes: int = 2 * 1024**3
    allow_local_paths: bool = False
    # Hosts a git remote may name (`github.com`, `git.example.com:8443`, `*.example.com`); each
    # connection goes through the egress proxy, which also refuses non-public addresses.
    git_hosts: tuple[str, ...] = ("github.com",)
    # Where a local path may lie when allow_local_paths (the local stack: home and cwd).
    local_roots: tuple[str, ...] = ()
    server_git_token: str | None = field(default=None, repr=False)
    # Where the server token may be sent (`github.com/my-org`, `git.example.com`); empty:
    # nowhere. Only for admin-scoped requests, and for workers where an admin relied on it.
    git_token_scope: tuple[str, ...] = ()
    # Per-tenant caps (0: none; the admin tenant has none): repositories registered, and the
    # indexed bytes of those repositories (domain/tenancy.py says how they are counted).
    tenant_max_repositories: int = 100
    tenant_max_bytes: int = 10 * 1024**3
    max_file_bytes: int = 1024 * 1024
    parse_batch_files: int = 64
    parse_batch_bytes: int = 4 * 1024 * 1024
    lease_seconds: int = 300
    max_body_bytes: int = 256 * 1024
    deadline_margin_ms: int = 15_000
    conversation_ttl_seconds: int = 7 * 24 * 3600
    segment_cache_entries: int = 8
    pointer_ttl_seconds: float = 2.0
    drop_index_on_branch_delete: bool = False
    sweep_minutes: int = 60
    webhook_delivery_ttl_seconds: int = 3 * 24 * 3600
    webhook_secret_ttl_seconds: float = 300.0
    event_ttl_seconds: int = 90 * 24 * 3600
    # The events archive (ADR 23): the compactor's period, and how late an event may be
    # appended after its time (each run re-reads that much before its watermark).
    archive_minutes: int = 60
    archive_settle_seconds: float = 120.0
    # Live status and callbacks (ADR 24). The management API of the WebSocket API
    # (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`); None: derived from each
    # connect event, as Chalice does. Connections are forgotten after `websocket_ttl_seconds`
    # (API Gateway's 2 h limit), callbacks `callback_ttl_seconds` after their last request.
    websocket_endpoint: str | None = None
    websocket_ttl_seconds: int = 2 * 3600 + 600
    # Hosts a notifyUrl may name (entries as git_hosts; empty: any public host name), and
    # whether loopback/private addresses and http are allowed (the local stack, tests).
    callback_hosts: tuple[str, ...] = ()
    callback_private: bool = False
    callback_ttl_seconds: int = 7 * 24 * 3600
    callback_attempts: int = 6  # then the message goes to the callback DLQ
    callback_retry_seconds: int = 10  # the first retry's delay; x4 each time, 15 min at most
    callback_timeout_seconds: float = 10.0
    # Embeddings: "bedrock" (Titan v2, the deployed default), "onnx" (the local stack's
    # default), "minilm" / "static" (local: MiniLM in torch, or the int8 ONNX / static model
    # derived from its weights into embedding_cache_dir, ADR 19), "openai"
    # (any /v1/embeddings endpoint at embedding_url) or "none" (no vectors).
    embedder: str = "bedrock"
    embedding_model: str = ""  # "" = the adapter's default model
    embedding_dimensions: int = 0  # 0 = the model's default
    embedding_url: str | None = None
    embedding_api_key: str | None = field(default=None, repr=False)
    embedding_threads: int = 0  # local embedders' threads; 0 = one per core
    # How much the local ONNX embedder's threads lower their CPU priority (Linux nice): the
    # local stack's 10 lets parsing, and so the lexical publish, go first (ADR 19).
    embedding_nice: int = 0
    # 0 = the local model's default (minilm reads 256 tokens, onnx 128: ADR 19)
    embedding_max_tokens: int = 0
    # Where local embedders keep what they derive from the shipped weights once (the static
    # model distilled from MiniLM): $STRATA_EMBEDDING_CACHE_DIR, else the user's cache.
    embedding_cache_dir: str = field(default_factory=lambda: _user_cache(os.environ))
    # Chat answers: "bedrock" (Converse, the deployed default), "openai" (any
    # /v1/chat/completions endpoint at answer_url) or "extractive" (no model; the local
    # stack's default). The prompt's budget and the reply's cap are in tokens (ADR 20).
    answerer: str = "bedrock"
    answer_model: str = ""  # "" = the adapter's default model (Bedrock's; openai needs one)
    answer_url: str | None = None
    answer_api_key: str | None = field(default=None, repr=False)
    answer_context_tokens: int = 8000
    answer_max_tokens: int = 1024
    answer_timeout_seconds: float = 20.0  # under API Gateway's 29 s, retries included
    history_commits: int = 2000
    # API keys: each key's token bucket gains `rate_per_second` requests a second up to
    # `rate_burst` (rate 0 turns the limit off); the digest pepper is re-read this often.
    rate_per_second: float = 10.0
    rate_burst: int = 100
    api_key_pepper_ttl_seconds: float = 300.0
    # Observability (observability.py): the Powertools service name and metrics namespace;
    # Strata's logs as JSON lines at INFO in Lambda, human lines with warnings only elsewhere
    # (`strata serve --verbose` shows INFO); X-Ray tracing in a deployed function only, unless
    # POWERTOOLS_TRACE_DISABLED.
    service_name: str = "strata"
    metrics_namespace: str = "Strata"
    log_level: str = "WARNING"
    log_format: str = "human"
    tracing: bool = False
    # Checks (ADR 21): units per check batch and their bytes; the build level's tools
    # ("auto": every one found on check_path; a comma list names fewer; "none"), each run's
    # limits, where runs materialize files, the sandbox ("auto": network, PID and mount
    # namespaces when unshare works; "required"; "off"), and what version probes may read.
    check_batch_units: int = 32
    check_batch_bytes: int = 8 * 1024 * 1024
    check_tools: tuple[str, ...] | None = None  # None: every tool found
    check_timeout_seconds: float = 60.0
    check_memory_mb: int = 1024
    check_output_bytes: int = 1024 * 1024
    check_scratch_dir: str = "/tmp/strata-checks"
    check_sandbox: str = "auto"
    check_path: str = "/usr/local/bin:/usr/bin:/bin"
    toolchain_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Commits (ADR 22): what one commit may change (files, bytes per file and in all, after
    # base64), its request body's cap (the Lambda payload limit is 6 MB), the branch's commit
    # lease, how long a commit waits for another one's lease (then 503), and how long an
    # Idempotency-Key's answer is kept.
    commit_max_files: int = 200
    commit_max_file_bytes: int = 1024 * 1024
    commit_max_total_bytes: int = 4 * 1024 * 1024
    commit_max_body_bytes: int = 5 * 1024 * 1024
    commit_lease_seconds: int = 60
    commit_lease_wait_seconds: float = 10.0
    idempotency_ttl_seconds: int = 24 * 3600

    @property
    def names(self) -> ResourceNames:
        return ResourceNames.for_prefix(self.resource_prefix, self.bucket_name)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        d = cls()
        # What Powertools itself checks: a function in Lambda, not the Chalice CLI's local mode.
        in_lambda = bool(e.get("AWS_LAMBDA_FUNCTION_NAME")) and not e.get("AWS_CHALICE_CLI_MODE")

        def num(key: str, default: int) -> int:
            raw = e.get(key)
            return int(raw) if raw else default

        return cls(
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or d.region,
            resource_prefix=e.get("STRATA_RESOURCE_PREFIX", d.resource_prefix),
            bucket_name=e.get("STRATA_BUCKET") or None,
            endpoint_url=e.get("STRATA_AWS_ENDPOINT_URL") or None,
            git_cache_dir=e.get("STRATA_GIT_CACHE_DIR", d.git_cache_dir),
            git_cache_max_bytes=num("STRATA_GIT_CACHE_MAX_BYTES", d.git_cache_max_bytes),
            allow_local_paths=_flag(e.get("STRATA_ALLOW_LOCAL_PATHS"), d.allow_local_paths),
            git_hosts=_items(e.get("STRATA_GIT_HOSTS"), ",", d.git_hosts),
            local_roots=_items(e.get("STRATA_LOCAL_ROOTS"), ":", d.local_roots),
            server_git_token=e.get("STRATA_GIT_TOKEN") or None,
            git_token_scope=_items(e.get("STRATA_GIT_TOKEN_SCOPE"), ",", d.git_token_scope),
            tenant_max_repositories=max(
                0, num("STRATA_TENANT_MAX_REPOSITORIES", d.tenant_max_repositories)
            ),
            tenant_max_bytes=max(0, num("STRATA_TENANT_MAX_BYTES", d.tenant_max_bytes)),
            max_file_bytes=num("STRATA_MAX_FILE_BYTES", d.max_file_bytes),
            parse_batch_files=num("STRATA_PARSE_BATCH_FILES", d.parse_batch_files),
            parse_batch_bytes=num("STRATA_PARSE_BATCH_BYTES", d.parse_batch_bytes),
            lease_seconds=num("STRATA_LEASE_SECONDS", d.lease_seconds),
            max_body_bytes=num("STRATA_MAX_BODY_BYTES", d.max_body_bytes),
            deadline_margin_ms=num("STRATA_DEADLINE_MARGIN_MS", d.deadline_margin_ms),
            conversation_ttl_seconds=num(
                "STRATA_CONVERSATION_TTL_SECONDS", d.conversation_ttl_seconds
            ),
            segment_cache_entries=num("STRATA_SEGMENT_CACHE_ENTRIES", d.segment_cache_entries),
            pointer_ttl_seconds=float(e.get("STRATA_POINTER_TTL_SECONDS") or d.pointer_ttl_seconds),
            drop_index_on_branch_delete=_flag(
                e.get("STRATA_DROP_INDEX_ON_BRANCH_DELETE"), d.drop_index_on_branch_delete
            ),
            sweep_minutes=max(1, num("STRATA_SWEEP_MINUTES", d.sweep_minutes)),
            webhook_delivery_ttl_seconds=num(
                "STRATA_WEBHOOK_DELIVERY_TTL_SECONDS", d.webhook_delivery_ttl_seconds
            ),
            webhook_secret_ttl_seconds=float(
                e.get("STRATA_WEBHOOK_SECRET_TTL_SECONDS") or d.webhook_secret_ttl_seconds
            ),
            event_ttl_seconds=num("STRATA_EVENT_TTL_SECONDS", d.event_ttl_seconds),
            archive_minutes=max(1, num("STRATA_ARCHIVE_MINUTES", d.archive_minutes)),
            archive_settle_seconds=max(
                0.0,
                float(e.get("STRATA_ARCHIVE_SETTLE_SECONDS") or d.archive_settle_seconds),
            ),
            websocket_endpoint=(e.get("STRATA_WEBSOCKET_ENDPOINT") or "").rstrip("/") or None,
            websocket_ttl_seconds=max(
                60, num("STRATA_WEBSOCKET_TTL_SECONDS", d.websocket_ttl_seconds)
            ),
            callback_hosts=_items(e.get("STRATA_CALLBACK_HOSTS"), ",", d.callback_hosts),
            callback_private=_flag(e.get("STRATA_CALLBACK_PRIVATE"), d.callback_private),
            callback_ttl_seconds=max(
                60, num("STRATA_CALLBACK_TTL_SECONDS", d.callback_ttl_seconds)
            ),
            callback_attempts=max(1, num("STRATA_CALLBACK_ATTEMPTS", d.callback_attempts)),
            callback_retry_seconds=max(
                0, num("STRATA_CALLBACK_RETRY_SECONDS", d.callback_retry_seconds)
            ),
            callback_timeout_seconds=float(
                e.get("STRATA_CALLBACK_TIMEOUT_SECONDS") or d.callback_timeout_seconds
            ),
            embedder=(e.get("STRATA_EMBEDDER") or d.embedder).strip().lower(),
            embedding_model=e.get("STRATA_EMBEDDING_MODEL", d.embedding_model),
            embedding_dimensions=num("STRATA_EMBEDDING_DIMENSIONS", d.embedding_dimensions),
            embedding_url=e.get("STRATA_EMBEDDING_URL") or None,
            embedding_api_key=e.get("STRATA_EMBEDDING_API_KEY") or None,
            embedding_threads=max(0, num("STRATA_EMBEDDING_THREADS", d.embedding_threads)),
            embedding_nice=min(19, max(0, num("STRATA_EMBEDDING_NICE", d.embedding_nice))),
            embedding_max_tokens=max(0, num("STRATA_EMBEDDING_MAX_TOKENS", 0)),
            embedding_cache_dir=e.get("STRATA_EMBEDDING_CACHE_DIR") or _user_cache(e),
            answerer=(e.get("STRATA_ANSWERER") or d.answerer).strip().lower(),
            answer_model=e.get("STRATA_ANSWER_MODEL", d.answer_model),
            answer_url=e.get("STRATA_ANSWER_URL") or None,
            answer_api_key=e.get("STRATA_ANSWER_API_KEY") or None,
            answer_context_tokens=num("STRATA_ANSWER_CONTEXT_TOKENS", d.answer_context_tokens),
            answer_max_tokens=num("STRATA_ANSWER_MAX_TOKENS", d.answer_max_tokens),
            answer_timeout_seconds=float(
                e.get("STRATA_ANSWER_TIMEOUT_SECONDS") or d.answer_timeout_seconds
            ),
            history_commits=max(0, num("STRATA_HISTORY_COMMITS", d.history_commits)),
            rate_per_second=max(0.0, float(e.get("STRATA_RATE_PER_SECOND") or d.rate_per_second)),
            rate_burst=max(0, num("STRATA_RATE_BURST", d.rate_burst)),
            api_key_pepper_ttl_seconds=float(
                e.get("STRATA_API_KEY_PEPPER_TTL_SECONDS") or d.api_key_pepper_ttl_seconds
            ),
            service_name=e.get("POWERTOOLS_SERVICE_NAME") or d.service_name,
            metrics_namespace=e.get("POWERTOOLS_METRICS_NAMESPACE") or d.metrics_namespace,
            log_level=(
                e.get("POWERTOOLS_LOG_LEVEL") or ("INFO" if in_lambda else d.log_level)
            ).upper(),
            log_format=(e.get("STRATA_LOG_FORMAT") or ("json" if in_lambda else "human")).lower(),
            tracing=in_lambda and not _flag(e.get("POWERTOOLS_TRACE_DISABLED"), False),
            check_batch_units=max(1, num("STRATA_CHECK_BATCH_UNITS", d.check_batch_units)),
            check_batch_bytes=max(1, num("STRATA_CHECK_BATCH_BYTES", d.check_batch_bytes)),
            check_tools=_check_tools(e.get("STRATA_CHECK_TOOLS")),
            check_timeout_seconds=float(
                e.get("STRATA_CHECK_TIMEOUT_SECONDS") or d.check_timeout_seconds
            ),
            check_memory_mb=max(64, num("STRATA_CHECK_MEMORY_MB", d.check_memory_mb)),
            check_output_bytes=max(1024, num("STRATA_CHECK_OUTPUT_BYTES", d.check_output_bytes)),
            check_scratch_dir=e.get("STRATA_CHECK_SCRATCH_DIR") or d.check_scratch_dir,
            check_sandbox=(e.get("STRATA_CHECK_SANDBOX") or d.check_sandbox).strip().lower(),
            check_path=e.get("STRATA_CHECK_PATH") or e.get("PATH") or d.check_path,
            toolchain_env={k: e[k] for k in _TOOLCHAIN_ENV if e.get(k)},
            commit_max_files=max(1, num("STRATA_COMMIT_MAX_FILES", d.commit_max_files)),
            commit_max_file_bytes=max(
                1, num("STRATA_COMMIT_MAX_FILE_BYTES", d.commit_max_file_bytes)
            ),
            commit_max_total_bytes=max(
                1, num("STRATA_COMMIT_MAX_TOTAL_BYTES", d.commit_max_total_bytes)
            ),
            commit_max_body_bytes=max(
                1024, num("STRATA_COMMIT_MAX_BODY_BYTES", d.commit_max_body_bytes)
            ),
            commit_lease_seconds=max(
                10, num("STRATA_COMMIT_LEASE_SECONDS", d.commit_lease_seconds)
            ),
            commit_lease_wait_seconds=float(
                e.get("STRATA_COMMIT_LEASE_WAIT_SECONDS") or d.commit_lease_wait_seconds
            ),
            idempotency_ttl_seconds=max(
                60, num("STRATA_IDEMPOTENCY_TTL_SECONDS", d.idempotency_ttl_seconds)
            ),
        )
