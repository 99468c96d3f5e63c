"""Composition root: Settings -> SDK clients -> adapters -> services.

Built on first use (never at import, so importing app.py creates no client) and shared by
every handler of a warm function. `reset()` lets tests and the local stack rebuild it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from chalicelib.adapters.dynamo_events import DynamoDeliveryLog, DynamoEventLog
from chalicelib.adapters.dynamo_models import bind_models
from chalicelib.adapters.dynamo_stores import (
    DynamoConversationStore,
    DynamoJobStore,
    DynamoLockManager,
    DynamoRepoStore,
)
from chalicelib.adapters.extractive_answerer import ExtractiveAnswerer
from chalicelib.adapters.kms_token_vault import KmsTokenVault
from chalicelib.adapters.pygit2_git_engine import Pygit2GitEngine
from chalicelib.adapters.s3_blob_store import S3BlobStore
from chalicelib.adapters.secretsmanager_secret_store import SecretsManagerSecretStore
from chalicelib.adapters.sqs_work_queue import SqsWorkQueue
from chalicelib.adapters.system_clock import SystemClock
from chalicelib.ports import Clock, ConversationStore, DeliveryLog, Embedder, RepoStore
from chalicelib.services.chat import ChatService
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.events import EventQueries
from chalicelib.services.generations import GenerationLoader, PointerCache
from chalicelib.services.graph_queries import GraphQueries
from chalicelib.services.index_requests import IndexRequests
from chalicelib.services.pipeline import IndexPipeline
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


def index_config(s: Settings) -> IndexConfig:
    return IndexConfig(
        max_file_bytes=s.max_file_bytes,
        batch_files=s.parse_batch_files,
        batch_bytes=s.parse_batch_bytes,
        lease_seconds=float(s.lease_seconds),
        deadline_margin_ms=s.deadline_margin_ms,
        server_git_token=s.server_git_token,
        allow_local_paths=s.allow_local_paths,
        history_commits=s.history_commits,
    )


EMBEDDERS = ("bedrock", "minilm", "openai", "none")


def embedder(s: Settings, client: Callable[[str], Any]) -> Embedder | None:
    """The configured embedding adapter; each is lazy (no model or connection until used)."""
    if s.embedder == "none":
        return None
    if s.embedder == "minilm":
        from chalicelib.adapters.minilm_embedder import MiniLMEmbedder

        return MiniLMEmbedder(threads=s.embedding_threads)
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


def build(s: Settings) -> Container:
    session = boto3.session.Session(region_name=s.region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=s.endpoint_url)

    names = s.names
    models = bind_models(names.tables, s.region, s.endpoint_url)
    blobs = S3BlobStore(client("s3"), names.bucket)
    ports = IndexPorts(
        git=Pygit2GitEngine(s.git_cache_dir, s.git_cache_max_bytes),
        blobs=blobs,
        queue=SqsWorkQueue(client("sqs"), names.queues),
        repos=DynamoRepoStore(models),
        locks=DynamoLockManager(models),
        jobs=DynamoJobStore(models),
        vault=KmsTokenVault(client("kms"), names.token_key_alias),
        clock=SystemClock(),
        events=DynamoEventLog(models, s.event_ttl_seconds),
        embedder=embedder(s, client),
    )
    loader = GenerationLoader(blobs, s.segment_cache_entries)
    signals = SignalCache(blobs, loader.segment, s.segment_cache_entries)
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
            SecretsManagerSecretStore(client("secretsmanager")),
            names.webhook_secret,
            ports.clock,
            s.webhook_secret_ttl_seconds,
        ),
    )


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


def repo_store() -> RepoStore:
    return container().ports.repos


def clock() -> Clock:
    return container().ports.clock


def index_requests() -> IndexRequests:
    c = container()
    return IndexRequests(ports=c.ports, config=c.config)


def pipeline() -> IndexPipeline:
    c = container()
    return IndexPipeline(ports=c.ports, config=c.config)


def graph() -> GraphQueries:
    c = container()
    return GraphQueries(pointers=c.pointers, loader=c.loader)


def searcher() -> Searcher:
    c = container()
    return Searcher(
        pointers=c.pointers, loader=c.loader, retriever=c.retriever, repos=c.ports.repos
    )


def chat() -> ChatService:
    c = container()
    return ChatService(
        pointers=c.pointers,
        loader=c.loader,
        retriever=c.retriever,
        answerer=ExtractiveAnswerer(),
        conversations=c.conversations,
        clock=c.ports.clock,
        ttl_seconds=c.settings.conversation_ttl_seconds,
    )


def webhooks() -> WebhookReceiver:
    c = container()
    return WebhookReceiver(
        secrets=c.webhook_secrets,
        deliveries=c.deliveries,
        repos=c.ports.repos,
        events=c.ports.events,
        clock=c.ports.clock,
        requests=IndexRequests(ports=c.ports, config=c.config),
        config=WebhookConfig(
            drop_index_on_branch_delete=c.settings.drop_index_on_branch_delete,
            delivery_ttl_seconds=c.settings.webhook_delivery_ttl_seconds,
        ),
    )


def sweeper() -> Sweeper:
    c = container()
    requests = IndexRequests(ports=c.ports, config=c.config)
    return Sweeper(ports=c.ports, config=c.config, requests=requests)


def event_queries() -> EventQueries:
    return EventQueries(events=container().ports.events)
