"""Composition root: Settings -> SDK clients -> adapters -> services.

Built on first use (never at import, so importing app.py creates no client) and shared by
every handler of a warm function. `reset()` lets tests and the local stack rebuild it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import boto3

from chalicelib import observability
from chalicelib.adapters.apigw_connections import ApiGatewayConnections
from chalicelib.adapters.dynamo_checks import DynamoCheckStore
from chalicelib.adapters.dynamo_event_feed import DynamoEventFeed
from chalicelib.adapters.dynamo_events import DynamoDeliveryLog, DynamoEventLog
from chalicelib.adapters.dynamo_idempotency import DynamoIdempotencyStore
from chalicelib.adapters.dynamo_keys import DynamoKeyStore, DynamoRateLimitStore
from chalicelib.adapters.dynamo_listeners import DynamoListenerStore
from chalicelib.adapters.dynamo_models import bind_models
from chalicelib.adapters.dynamo_stores import (
    DynamoConversationStore,
    DynamoJobStore,
    DynamoLockManager,
    DynamoRepoStore,
)
from chalicelib.adapters.extractive_answerer import ExtractiveAnswerer
from chalicelib.adapters.git_egress_proxy import EgressPolicy, EgressProxy
from chalicelib.adapters.http_callbacks import HttpCallbackTransport
from chalicelib.adapters.kms_token_vault import KmsTokenVault
from chalicelib.adapters.pygit2_git_engine import Pygit2GitEngine
from chalicelib.adapters.s3_blob_store import S3BlobStore
from chalicelib.adapters.s3_event_archive import S3EventArchive
from chalicelib.adapters.secretsmanager_secret_store import SecretsManagerSecretStore
from chalicelib.adapters.sqs_work_queue import SqsWorkQueue
from chalicelib.adapters.subprocess_toolchain import SubprocessToolchain, ToolLimits
from chalicelib.adapters.system_clock import SystemClock
from chalicelib.domain.answers import ModelLimits
from chalicelib.domain.callbacks import CallbackRules
from chalicelib.domain.commits import CommitLimits
from chalicelib.domain.credentials import ServerToken
from chalicelib.domain.identity import Caller
from chalicelib.domain.rate_limits import RatePolicy
from chalicelib.domain.tenancy import Quota
from chalicelib.ports import (
    CallbackTransport,
    ChatModel,
    CheckStore,
    Clock,
    ConnectionPoster,
    ConversationStore,
    DeliveryLog,
    Embedder,
    EventArchive,
    EventFeed,
    GitWriter,
    IdempotencyStore,
    KeyStore,
    ListenerStore,
    RateLimitStore,
    RepoStore,
    Toolchain,
)
from chalicelib.services.callbacks import CallbackConfig, CallbackRegistrar, CallbackSender
from chalicelib.services.chat import ChatService
from chalicelib.services.check_events import RecordedChecks
from chalicelib.services.check_reports import CheckReports
from chalicelib.services.check_requests import CheckRequests
from chalicelib.services.check_runner import CheckConfig, CheckRunner
from chalicelib.services.commit_push import CommitPush
from chalicelib.services.commits import CommitConfig, CommitService
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.event_archiver import EventArchiver
from chalicelib.services.event_history import StatusHistory
from chalicelib.services.events import AttributedEventLog, EventQueries
from chalicelib.services.generations import GenerationLoader, PointerCache
from chalicelib.services.graph_queries import GraphQueries
from chalicelib.services.index_requests import IndexRequests
from chalicelib.services.keys import Authenticator, CachedPepper, KeyAdmin
from chalicelib.services.live import Broadcaster, LiveSessions, PublishingEventLog
from chalicelib.services.pipeline import IndexPipeline
from chalicelib.services.rate_limits import RateLimiter
from chalicelib.services.retrieval import SignalCache
from chalicelib.services.retriever import QueryVectors, Retriever
from chalicelib.services.search import Searcher
from chalicelib.services.sweep import Sweeper
from chalicelib.services.webhooks import CachedWebhookSecrets, WebhookConfig, WebhookReceiver
from chalicelib.settings import Settings


@dataclass(frozen=True)
class Container:
    settings: Settings
    ports: IndexPorts
    config: IndexConfig
    conversations: ConversationStore
    loader: GenerationLoader
    pointers: PointerCache
    deliveries: DeliveryLog
    webhook_secrets: CachedWebhookSecrets
    retriever: Retriever
    keys: KeyStore
    rate_limits: RateLimitStore
    pepper: CachedPepper
    checks: CheckStore | None = None  # check runs (None: a container without that table)
    toolchain: Toolchain | None = None  # the build level's tools, probed on first use
    chat_model: ChatModel | None = None  # None: chat answers extractively
    # Commits: the git engine's writing half (the same engine as ports.git) and the
    # Idempotency-Key records (None: a container that cannot commit).
    writer: GitWriter | None = None
    idempotency: IdempotencyStore | None = None
    # The events archive (ADR 23): Parquet in the index bucket, and the table read by time.
    event_archive: EventArchive | None = None
    event_feed: EventFeed | None = None
    # Live status and callbacks (ADR 24): WebSocket connections and callback URLs by
    # repository, API Gateway's management API, and the HTTP client of callbacks.
    listeners: ListenerStore | None = None
    connections: ConnectionPoster | None = None
    callback_transport: CallbackTransport | None = None


def index_config(s: Settings) -> IndexConfig:
    return IndexConfig(
        max_file_bytes=s.max_file_bytes,
        batch_files=s.parse_batch_files,
        batch_bytes=s.parse_batch_bytes,
        lease_seconds=float(s.lease_seconds),
        deadline_margin_ms=s.deadline_margin_ms,
        server_git_token=s.server_git_token,
        git_token_scope=s.git_token_scope,
        tenant_quota=Quota(s.tenant_max_repositories, s.tenant_max_bytes),
        allow_local_paths=s.allow_local_paths,
        git_hosts=s.git_hosts,
        local_roots=s.local_roots,
        history_commits=s.history_commits,
    )


EMBEDDERS = ("bedrock", "minilm", "static", "onnx", "openai", "none")


def embedder(s: Settings, client: Callable[[str], Any]) -> Embedder | None:
    """The configured embedding adapter; each is lazy (no model or connection until used)."""
    if s.embedder == "none":
        return None
    if s.embedder in ("minilm", "static", "onnx"):
        return local_embedder(s)
    if s.embedder == "bedrock":
        from chalicelib.adapters.bedrock_embedder import BedrockEmbedder

        options: dict[str, Any] = {"model": s.embedding_model} if s.embedding_model else {}
        if s.embedding_dimensions:
            options["dimensions"] = s.embedding_dimensions
        return BedrockEmbedder(client("bedrock-runtime"), **options)
    if s.embedder == "openai":
        from chalicelib.adapters.openai_embedder import OpenAIEmbedder

        if not s.embedding_url or not s.embedding_model:
            raise ValueError("STRATA_EMBEDDER=openai needs STRATA_EMBEDDING_URL and _MODEL")
        return OpenAIEmbedder(
            s.embedding_url,
            s.embedding_model,
            api_key=s.embedding_api_key,
            dimensions=s.embedding_dimensions or None,
        )
    raise ValueError(f"STRATA_EMBEDDER must be one of {', '.join(EMBEDDERS)}")


def local_embedder(s: Settings) -> Embedder:
    """The models that run in this process from the shipped MiniLM weights (no network)."""
    tokens: dict[str, Any] = (
        {"max_seq_length": s.embedding_max_tokens} if s.embedding_max_tokens else {}
    )
    threads = s.embedding_threads or os.cpu_count() or 1
    if s.embedder == "static":
        from chalicelib.adapters.static_embedder import StaticEmbedder

        options: dict[str, Any] = (
            {"dimensions": s.embedding_dimensions} if s.embedding_dimensions else {}
        )
        if s.embedding_max_tokens:
            options["max_tokens"] = s.embedding_max_tokens
        return StaticEmbedder(s.embedding_cache_dir, **options)
    if s.embedder == "onnx":
        from chalicelib.adapters.onnx_minilm_embedder import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(
            s.embedding_cache_dir, threads=threads, nice=s.embedding_nice, **tokens
        )
    from chalicelib.adapters.minilm_embedder import MiniLMEmbedder

    return MiniLMEmbedder(threads=threads, **tokens)


ANSWERERS = ("bedrock", "openai", "extractive")


def chat_model(s: Settings, client: Callable[..., Any]) -> ChatModel | None:
    """The configured answer model (None: extractive answers); no call until a question."""
    if s.answerer == "extractive":
        return None
    limits = ModelLimits(s.answer_context_tokens, s.answer_max_tokens)
    if s.answerer == "bedrock":
        from botocore.config import Config

        from chalicelib.adapters.bedrock_chat_model import DEFAULT_MODEL, BedrockChatModel

        # The adapter retries throttling itself, within the answer's deadline.
        config = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=s.answer_timeout_seconds,
        )
        return BedrockChatModel(
            client("bedrock-runtime", config),
            s.answer_model or DEFAULT_MODEL,
            limits=limits,
            deadline_seconds=s.answer_timeout_seconds,
        )
    if s.answerer == "openai":
        from chalicelib.adapters.openai_chat_model import OpenAIChatModel

        if not s.answer_url or not s.answer_model:
            raise ValueError("STRATA_ANSWERER=openai needs STRATA_ANSWER_URL and _MODEL")
        return OpenAIChatModel(
            s.answer_url,
            s.answer_model,
            api_key=s.answer_api_key,
            limits=limits,
            timeout=s.answer_timeout_seconds,
        )
    raise ValueError(f"STRATA_ANSWERER must be one of {', '.join(ANSWERERS)}")


def toolchain(s: Settings) -> SubprocessToolchain:
    """The build level's tools (none is probed or run before a build check needs one)."""
    limits = ToolLimits(s.check_timeout_seconds, s.check_memory_mb, s.check_output_bytes)
    return SubprocessToolchain(
        scratch_dir=s.check_scratch_dir,
        path=s.check_path,
        limits=limits,
        tools=s.check_tools,
        sandbox=s.check_sandbox,
        probe_env=s.toolchain_env,
    )


def check_config(s: Settings) -> CheckConfig:
    return CheckConfig(
        max_file_bytes=s.max_file_bytes,
        batch_units=s.check_batch_units,
        batch_bytes=s.check_batch_bytes,
        deadline_margin_ms=s.deadline_margin_ms,
    )


def git_engine(s: Settings) -> Pygit2GitEngine:
    """Every fetch goes through the egress proxy (allow-listed hosts, public addresses only);
    local paths only under the roots, and only where the deployment allows them."""
    return Pygit2GitEngine(
        s.git_cache_dir,
        s.git_cache_max_bytes,
        egress=EgressProxy(EgressPolicy(s.git_hosts)),
        local_roots=s.local_roots if s.allow_local_paths else (),
    )


def build(s: Settings) -> Container:
    session = boto3.session.Session(region_name=s.region)

    def client(service: str, config: Any = None) -> Any:
        return session.client(service, endpoint_url=s.endpoint_url, config=config)

    names = s.names
    models = bind_models(names.tables, s.region, s.endpoint_url)
    blobs = S3BlobStore(client("s3"), names.bucket)
    engine = git_engine(s)
    queue = SqsWorkQueue(client("sqs"), names.queues)
    repos = DynamoRepoStore(models)
    listeners = DynamoListenerStore(models)
    connections = ApiGatewayConnections(management_clients(session))
    feed = Broadcaster(listeners=listeners, poster=connections, queue=queue, repos=repos)
    ports = IndexPorts(
        git=engine,
        blobs=blobs,
        queue=queue,
        repos=repos,
        locks=DynamoLockManager(models),
        jobs=DynamoJobStore(models),
        vault=KmsTokenVault(client("kms"), names.token_key_alias),
        clock=SystemClock(),
        # Every recorded event is also pushed to the repository's listeners (ADR 24).
        events=PublishingEventLog(DynamoEventLog(models, s.event_ttl_seconds), feed),
        embedder=embedder(s, client),
        live=feed,
    )
    loader = GenerationLoader(blobs, s.segment_cache_entries)
    signals = SignalCache(blobs, loader.segment, s.segment_cache_entries)
    secrets = SecretsManagerSecretStore(client("secretsmanager"))
    return Container(
        settings=s,
        ports=ports,
        config=index_config(s),
        conversations=DynamoConversationStore(models),
        loader=loader,
        retriever=Retriever(signals, QueryVectors(ports.embedder)),
        pointers=PointerCache(ports.repos, ports.clock, s.pointer_ttl_seconds),
        deliveries=DynamoDeliveryLog(models),
        webhook_secrets=CachedWebhookSecrets(
            secrets, names.webhook_secret, ports.clock, s.webhook_secret_ttl_seconds
        ),
        keys=DynamoKeyStore(models),
        rate_limits=DynamoRateLimitStore(models),
        pepper=CachedPepper(
            secrets, names.api_key_pepper, ports.clock, s.api_key_pepper_ttl_seconds
        ),
        checks=DynamoCheckStore(models),
        toolchain=toolchain(s),
        chat_model=chat_model(s, client),
        writer=engine,
        idempotency=DynamoIdempotencyStore(models),
        event_archive=S3EventArchive(client("s3"), names.bucket),
        event_feed=DynamoEventFeed(models),
        listeners=listeners,
        connections=connections,
        callback_transport=HttpCallbackTransport(s.callback_timeout_seconds),
    )


def management_clients(session: Any) -> Callable[[str], Any]:
    """apigatewaymanagementapi clients by endpoint: short timeouts, one retry, so a slow
    API Gateway delays a worker by seconds at most (pushing is best effort)."""
    from botocore.config import Config

    config = Config(
        connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"}
    )

    def client_for(endpoint: str) -> Any:
        return session.client("apigatewaymanagementapi", endpoint_url=endpoint, config=config)

    return client_for


class _Root:
    """The process-wide settings and container, built lazily under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: Settings | None = None
        self.container: Container | None = None


_root = _Root()


def configure(settings: Settings | None = None, container: Container | None = None) -> None:
    """Use these settings (or a ready container) from now on; None means the environment."""
    with _root.lock:
        _root.settings = settings
        _root.container = container


def reset() -> None:
    configure(None, None)


def settings() -> Settings:
    with _root.lock:
        if _root.settings is None:
            _root.settings = Settings.from_env()
        return _root.settings


def container() -> Container:
    s = settings()
    with _root.lock:
        if _root.container is None:
            _root.container = build(s)
        return _root.container


def telemetry() -> observability.Telemetry:
    """How this process logs, measures and traces (read per invocation: cheap)."""
    s = settings()
    return observability.Telemetry(
        service=s.service_name,
        namespace=s.metrics_namespace,
        log_level=s.log_level,
        log_format="json" if s.log_format == "json" else "human",
        tracing=s.tracing,
    )


def repo_store() -> RepoStore:
    return container().ports.repos


def clock() -> Clock:
    return container().ports.clock


def index_requests(caller: Caller | None = None) -> IndexRequests:
    """Index requests whose events name `caller` as their actor."""
    c = container()
    ports = c.ports if caller is None else attributed(c, caller.actor)
    return IndexRequests(ports=ports, config=c.config)


def attributed(c: Container, actor: str) -> IndexPorts:
    """The indexing ports with an event log that records `actor` on every event."""
    return replace(c.ports, events=AttributedEventLog(c.ports.events, actor))


def pipeline() -> IndexPipeline:
    c = container()
    return IndexPipeline(ports=c.ports, config=c.config)


def graph(caller: Caller) -> GraphQueries:
    """Graph queries over the repositories `caller` may see (domain/tenancy.py), with Lean
    declarations' checked status from their commit's newest check."""
    c = container()
    reports = CheckReports(checks=c.checks, blobs=c.ports.blobs) if c.checks else None
    return GraphQueries(pointers=c.pointers, loader=c.loader, caller=caller, checks=reports)


def _check_parts(c: Container) -> tuple[CheckStore, Toolchain]:
    if c.checks is None or c.toolchain is None:
        raise RuntimeError("this container has no check store or toolchain")
    return c.checks, c.toolchain


def check_requests(caller: Caller) -> CheckRequests:
    """Check runs of the repositories `caller` may see."""
    c = container()
    checks, _ = _check_parts(c)
    p = attributed(c, caller.actor)
    recorded = RecordedChecks(checks, events=p.events, clock=p.clock)
    return CheckRequests(
        repos=p.repos, checks=recorded, blobs=p.blobs, queue=p.queue, clock=p.clock, caller=caller
    )


def check_runner() -> CheckRunner:
    c = container()
    checks, tools = _check_parts(c)
    return CheckRunner(
        ports=c.ports,
        config=c.config,
        checks=RecordedChecks(checks, events=c.ports.events, clock=c.ports.clock),
        toolchain=tools,
        settings=check_config(c.settings),
    )


def commit_config(s: Settings) -> CommitConfig:
    limits = CommitLimits(
        max_files=s.commit_max_files,
        max_file_bytes=s.commit_max_file_bytes,
        max_total_bytes=s.commit_max_total_bytes,
    )
    return CommitConfig(
        limits=limits,
        lease_seconds=float(s.commit_lease_seconds),
        lease_wait_seconds=s.commit_lease_wait_seconds,
        idempotency_ttl_seconds=float(s.idempotency_ttl_seconds),
        server_token=ServerToken(s.server_git_token, s.git_token_scope),
    )


def commits(caller: Caller) -> CommitService:
    """Commits to the repositories `caller` may see, recorded in events as theirs."""
    c = container()
    if c.writer is None or c.idempotency is None:
        raise RuntimeError("this container cannot commit (no git writer or idempotency store)")
    ports = attributed(c, caller.actor)
    checks = check_requests(caller) if c.checks is not None else None
    config = commit_config(c.settings)
    push = CommitPush(
        writer=c.writer,
        locks=ports.locks,
        index=IndexRequests(ports=ports, config=c.config),
        checks=checks,
        lease_seconds=config.lease_seconds,
    )
    return CommitService(
        push=push,
        records=c.idempotency,
        config=config,
        caller=caller,
    )


def searcher(caller: Caller) -> Searcher:
    c = container()
    return Searcher(
        pointers=c.pointers,
        loader=c.loader,
        retriever=c.retriever,
        repos=c.ports.repos,
        caller=caller,
    )


def chat(caller: Caller) -> ChatService:
    c = container()
    return ChatService(
        pointers=c.pointers,
        loader=c.loader,
        retriever=c.retriever,
        answerer=ExtractiveAnswerer(),
        conversations=c.conversations,
        clock=c.ports.clock,
        ttl_seconds=c.settings.conversation_ttl_seconds,
        caller=caller,
        model=c.chat_model,
    )


def webhooks() -> WebhookReceiver:
    c = container()
    ports = attributed(c, "github")
    return WebhookReceiver(
        secrets=c.webhook_secrets,
        deliveries=c.deliveries,
        repos=c.ports.repos,
        events=ports.events,
        clock=c.ports.clock,
        requests=IndexRequests(ports=ports, config=c.config),
        config=WebhookConfig(
            drop_index_on_branch_delete=c.settings.drop_index_on_branch_delete,
            delivery_ttl_seconds=c.settings.webhook_delivery_ttl_seconds,
        ),
    )


def sweeper() -> Sweeper:
    c = container()
    ports = attributed(c, "sweep")
    requests = IndexRequests(ports=ports, config=c.config)
    return Sweeper(ports=ports, config=c.config, requests=requests)


def event_queries(caller: Caller) -> EventQueries:
    c = container()
    return EventQueries(events=c.ports.events, repos=c.ports.repos, caller=caller)


def _archive_parts(c: Container) -> tuple[EventArchive, EventFeed]:
    if c.event_archive is None or c.event_feed is None:
        raise RuntimeError("this container has no events archive")
    return c.event_archive, c.event_feed


def event_archiver() -> EventArchiver:
    """The scheduled compactor of the events table into the Parquet archive (ADR 23)."""
    c = container()
    archive, feed = _archive_parts(c)
    return EventArchiver(
        feed=feed,
        archive=archive,
        locks=c.ports.locks,
        clock=c.ports.clock,
        settle_seconds=c.settings.archive_settle_seconds,
    )


def status_history(caller: Caller) -> StatusHistory:
    """Repositories' status at a past time, as `caller` may see them today."""
    c = container()
    archive, feed = _archive_parts(c)
    return StatusHistory(
        archive=archive,
        feed=feed,
        repos=c.ports.repos,
        caller=caller,
        settle_seconds=c.settings.archive_settle_seconds,
    )


def authenticator() -> Authenticator:
    c = container()
    return Authenticator(keys=c.keys, pepper=c.pepper, clock=c.ports.clock)


def _live_parts(c: Container) -> tuple[ListenerStore, ConnectionPoster, CallbackTransport]:
    if c.listeners is None or c.connections is None or c.callback_transport is None:
        raise RuntimeError("this container has no listeners table or live wiring")
    return c.listeners, c.connections, c.callback_transport


def live_sessions() -> LiveSessions:
    """The WebSocket routes' use cases (ADR 24)."""
    c = container()
    listeners, connections, _ = _live_parts(c)
    return LiveSessions(
        authenticator=authenticator(),
        keys=c.keys,
        listeners=listeners,
        poster=connections,
        repos=c.ports.repos,
        clock=c.ports.clock,
        ttl_seconds=float(c.settings.websocket_ttl_seconds),
    )


def callback_config(s: Settings) -> CallbackConfig:
    return CallbackConfig(
        rules=CallbackRules(s.callback_hosts, s.callback_private),
        ttl_seconds=float(s.callback_ttl_seconds),
        attempts=s.callback_attempts,
        retry_seconds=s.callback_retry_seconds,
    )


def callback_registrar() -> CallbackRegistrar:
    c = container()
    listeners, _, transport = _live_parts(c)
    return CallbackRegistrar(
        listeners=listeners,
        vault=c.ports.vault,
        transport=transport,
        clock=c.ports.clock,
        config=callback_config(c.settings),
    )


def callback_sender() -> CallbackSender:
    c = container()
    listeners, _, transport = _live_parts(c)
    return CallbackSender(
        listeners=listeners,
        vault=c.ports.vault,
        transport=transport,
        queue=c.ports.queue,
        clock=c.ports.clock,
        config=callback_config(c.settings),
    )


def rate_limiter() -> RateLimiter:
    c = container()
    policy = RatePolicy(c.settings.rate_per_second, c.settings.rate_burst)
    return RateLimiter(buckets=c.rate_limits, clock=c.ports.clock, policy=policy)


def key_admin() -> KeyAdmin:
    c = container()
    return KeyAdmin(keys=c.keys, pepper=c.pepper, clock=c.ports.clock)
