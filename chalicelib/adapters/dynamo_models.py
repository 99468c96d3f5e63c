"""The pynamodb models of Strata's DynamoDB tables: the one module that knows item shapes.

The classes below carry a placeholder `Meta`; `bind_models()` derives subclasses bound to
one stage's physical table names, region and endpoint, so no table name or endpoint is read
at import time and tests can bind fresh classes inside each `mock_aws()` context.

Key schemas and TTL attributes must match `infra/resources.json` (a test compares them).
Attribute names in DynamoDB are the Python names. Timestamps are epoch seconds (Number);
`expires_at` is the TTL attribute of the jobs, conversations, events, deliveries,
rate_limits, checks, idempotency and listeners tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.models import Model

_UNBOUND = "unbound"  # an unbound model fails on this table name, never silently


class RepositoryItem(Model):
    """One repository: the status endpoint reads only this item."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    repository_id = UnicodeAttribute(hash_key=True)
    remote = UnicodeAttribute(null=True)
    branch = UnicodeAttribute(null=True)
    is_local = BooleanAttribute(null=True)
    status = UnicodeAttribute(null=True)
    indexed_sha = UnicodeAttribute(null=True)
    head_sha = UnicodeAttribute(null=True)
    requested_sha = UnicodeAttribute(null=True)
    force_requested = BooleanAttribute(null=True)
    generation_key = UnicodeAttribute(null=True)
    generation_sha = UnicodeAttribute(null=True)
    # The fence of the published generation: publishes are conditional on it never going down.
    generation_fence = NumberAttribute(null=True)
    # Stats.to_dict() as a raw map; pynamodb leaves MapAttribute.__init__ unannotated.
    stats: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    indexed_at = NumberAttribute(null=True)
    requested_at = NumberAttribute(null=True)
    updated_at = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    files_processed = NumberAttribute(null=True)
    num_files = NumberAttribute(null=True)
    files_embedded = NumberAttribute(null=True)
    job_id = UnicodeAttribute(null=True)
    sealed_token = UnicodeAttribute(null=True)  # before tenants: read as the admin tenant's
    # The tenants that registered it, each one's sealed token ({tenant: sealed}; a raw map),
    # and whether an admin's registration relied on the server token.
    tenants = UnicodeSetAttribute(null=True)
    sealed_tokens: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    uses_server_token = BooleanAttribute(null=True)
    # Absent: the default for its kind (remote yes, local path no); see domain/sweep.py.
    auto_refresh = BooleanAttribute(null=True)
    branch_deleted_at = NumberAttribute(null=True)


class LockItem(Model):
    """A lease lock. Never deleted, so `fence` only ever grows; `owner` absent = released."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    lock_id = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute(null=True)
    fence = NumberAttribute(null=True)
    lease_until = NumberAttribute(null=True)


class JobItem(Model):
    """One index run and its fan-out counters."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    job_id = UnicodeAttribute(hash_key=True)
    repository_id = UnicodeAttribute()
    sha = UnicodeAttribute()
    fence = NumberAttribute()
    owner = UnicodeAttribute()
    base_generation_key = UnicodeAttribute(null=True)
    base_generation_sha = UnicodeAttribute(null=True)
    base_generation_fence = NumberAttribute(null=True)
    state = UnicodeAttribute()
    total_batches = NumberAttribute(default=0)
    outstanding = NumberAttribute(default=0)
    num_files = NumberAttribute(default=0)
    files_processed = NumberAttribute(default=0)
    blobs_parsed = NumberAttribute(default=0)
    blobs_reused = NumberAttribute(default=0)
    chunks_embedded = NumberAttribute(default=0)
    vectors_reused = NumberAttribute(default=0)
    # Batch numbers already counted: makes complete_batch idempotent under redelivery.
    done_batches = NumberSetAttribute(null=True)
    created_at = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)  # TTL


class TurnMap(MapAttribute[str, Any]):
    question = UnicodeAttribute()
    answer = UnicodeAttribute()
    repository_id = UnicodeAttribute(null=True)  # absent in turns kept before binding
    sources = ListAttribute(of=UnicodeAttribute, null=True)  # the paths the answer cited


class ConversationItem(Model):
    """The last turns of one chat conversation."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    conversation_id = UnicodeAttribute(hash_key=True)
    turns = ListAttribute(of=TurnMap, null=True)
    expires_at = NumberAttribute(null=True)  # TTL


class EventItem(Model):
    """One repository event (domain/events.py): newest first by `event_key`."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    repository_id = UnicodeAttribute(hash_key=True)
    event_key = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    at = NumberAttribute()
    data = UnicodeAttribute(null=True)  # JSON object
    actor = UnicodeAttribute(null=True)  # `key:<id>`, `github`, `sweep`; absent for workers
    expires_at = NumberAttribute(null=True)  # TTL


class DeliveryItem(Model):
    """A GitHub webhook delivery already handled; expires after a few days."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    delivery_id = UnicodeAttribute(hash_key=True)
    event = UnicodeAttribute(null=True)
    received_at = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # TTL


class KeyItem(Model):
    """One API key (domain/identity.py): its secret's HMAC digest, never the secret."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    key_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    scope = UnicodeAttribute()  # read | index | admin
    digest = UnicodeAttribute()  # hex HMAC-SHA256(pepper, secret)
    name = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    created_by = UnicodeAttribute(null=True)
    revoked_at = NumberAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)
    last_used_at = NumberAttribute(null=True)  # written at most once a minute


class RateLimitItem(Model):
    """A token bucket (domain/rate_limits.py); expires once it would be full again."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    bucket_id = UnicodeAttribute(hash_key=True)
    tokens = NumberAttribute()
    at = NumberAttribute()
    version = NumberAttribute()
    expires_at = NumberAttribute(null=True)  # TTL


class TenantItem(Model):
    """One tenant's usage (domain/tenancy.py): registrations and their indexed bytes."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    tenant = UnicodeAttribute(hash_key=True)
    repositories = NumberAttribute(default=0)
    bytes = NumberAttribute(default=0)
    updated_at = NumberAttribute(null=True)


class CheckItem(Model):
    """One check run (domain/checks.py): newest first by `check_id` within a repository."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    repository_id = UnicodeAttribute(hash_key=True)
    check_id = UnicodeAttribute(range_key=True)  # chk-<epoch ms>-<hex>: sorts by time
    sha = UnicodeAttribute()
    level = UnicodeAttribute()
    paths = UnicodeAttribute(null=True)  # JSON list; absent: the whole tree
    status = UnicodeAttribute()
    message = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    actor = UnicodeAttribute(null=True)
    total_batches = NumberAttribute(default=0)
    outstanding = NumberAttribute(default=0)
    done_batches = NumberSetAttribute(null=True)  # counted once each (redeliveries)
    stats = UnicodeAttribute(null=True)  # JSON object: the plan's numbers
    units = NumberAttribute(default=0)
    reused = NumberAttribute(default=0)
    tool_runs = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    warnings = NumberAttribute(default=0)
    undecided = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)  # TTL


class IdempotencyItem(Model):
    """One Idempotency-Key record (domain/idempotency.py); its outcome is set once."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    scope = UnicodeAttribute(hash_key=True)
    idempotency_key = UnicodeAttribute(range_key=True)
    fingerprint = UnicodeAttribute()
    owner = UnicodeAttribute()
    created_at = NumberAttribute()
    started_at = NumberAttribute()
    planned = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)  # the answer (JSON), once there is one
    expires_at = NumberAttribute()  # TTL


class ListenerItem(Model):
    """A repository's listener or an open WebSocket (adapters/dynamo_listeners.py): topic
    `connection#<id>` holds the connection itself, topic `repository#<id>` its listeners
    (`connection#<id>` subscriptions and `callback#<tenant>` URLs)."""

    class Meta:  # placeholder; see bind()
        table_name = _UNBOUND

    topic = UnicodeAttribute(hash_key=True)
    listener = UnicodeAttribute(range_key=True)
    key_id = UnicodeAttribute(null=True)
    tenant = UnicodeAttribute(null=True)
    scope = NumberAttribute(null=True)
    endpoint = UnicodeAttribute(null=True)
    connected_at = NumberAttribute(null=True)
    repositories = UnicodeSetAttribute(null=True)
    url = UnicodeAttribute(null=True)
    sealed_secret = UnicodeAttribute(null=True)  # the callback's signing secret, sealed (KMS)
    registered_at = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # TTL


def stats_dict(item: RepositoryItem) -> dict[str, Any] | None:
    """The stored stats as plain dicts (nested maps come back as raw MapAttributes)."""
    if item.stats is None:
        return None
    as_dict: dict[str, Any] = item.stats.as_dict()  # type: ignore[no-untyped-call]  # unannotated
    return as_dict


@dataclass(frozen=True)
class Models:
    """The models bound to one stage's tables, plus where they live (for transactions)."""

    repositories: type[RepositoryItem]
    locks: type[LockItem]
    jobs: type[JobItem]
    conversations: type[ConversationItem]
    events: type[EventItem]
    deliveries: type[DeliveryItem]
    region: str
    host: str | None
    keys: type[KeyItem] = KeyItem  # unbound unless bind_models() names the table
    rate_limits: type[RateLimitItem] = RateLimitItem
    tenants: type[TenantItem] = TenantItem
    checks: type[CheckItem] = CheckItem
    idempotency: type[IdempotencyItem] = IdempotencyItem
    listeners: type[ListenerItem] = ListenerItem


_M = TypeVar("_M", bound=Model)


def bind(model: type[_M], table_name: str, region: str, host: str | None) -> type[_M]:
    """A subclass of `model` whose Meta names a physical table; `model` itself is untouched."""
    meta = type("Meta", (), {"table_name": table_name, "region": region, "host": host})
    bound: type[_M] = type(model.__name__, (model,), {"Meta": meta, "__module__": __name__})
    return bound


def bind_models(tables: Mapping[str, str], region: str, host: str | None) -> Models:
    """Bind every model; `tables` maps logical names (`settings.names.tables`) to physical."""
    return Models(
        repositories=bind(RepositoryItem, tables["repositories"], region, host),
        locks=bind(LockItem, tables["locks"], region, host),
        jobs=bind(JobItem, tables["jobs"], region, host),
        conversations=bind(ConversationItem, tables["conversations"], region, host),
        # A table the caller did not name stays unbound: using it fails on the name "unbound".
        events=bind(EventItem, tables.get("events", _UNBOUND), region, host),
        deliveries=bind(DeliveryItem, tables.get("deliveries", _UNBOUND), region, host),
        region=region,
        host=host,
        keys=bind(KeyItem, tables.get("keys", _UNBOUND), region, host),
        rate_limits=bind(RateLimitItem, tables.get("rate_limits", _UNBOUND), region, host),
        tenants=bind(TenantItem, tables.get("tenants", _UNBOUND), region, host),
        checks=bind(CheckItem, tables.get("checks", _UNBOUND), region, host),
        idempotency=bind(IdempotencyItem, tables.get("idempotency", _UNBOUND), region, host),
        listeners=bind(ListenerItem, tables.get("listeners", _UNBOUND), region, host),
    )
