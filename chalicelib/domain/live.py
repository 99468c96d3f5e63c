"""Live status: who listens to a repository, what a WebSocket client may say, what it hears.
Pure (ADR 24).

A repository's listeners are WebSocket connections (authenticated with an API key on
connect, each subscribed to repositories its key may read) and callback URLs (one per
tenant and repository, named by `notifyUrl` on POST /repositories/index).

A client sends JSON text frames:

    {"action": "subscribe", "repositoryId": "github:owner:repo"}
    {"action": "unsubscribe", "repositoryId": "github:owner:repo"}
    {"action": "ping"}

and hears JSON text frames, each with a `type`:

    {"type": "subscribed", "repositoryId": ..., "status": {...}}      the status right now
    {"type": "unsubscribed", "repositoryId": ...}
    {"type": "event", "repositoryId": ..., "event": {id, type, at, actor, data, ...}}
    {"type": "progress", "repositoryId": ..., "progress": {status, filesProcessed, ...}}
    {"type": "pong"}
    {"type": "error", "error": {"code": ..., "message": ...}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from chalicelib.domain.callbacks import event_json
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.models import Repository
from chalicelib.errors import InvalidRequest

MAX_MESSAGE_BYTES = 4096
MAX_SUBSCRIPTIONS = 20  # repositories one connection may follow at once
ACTIONS = ("subscribe", "unsubscribe", "ping")

Action = Literal["subscribe", "unsubscribe", "ping"]


@dataclass(frozen=True)
class Connection:
    """An open WebSocket: who opened it (the key's identity, checked again on each
    subscription), where to post to it, and what it follows."""

    connection_id: str
    caller: Caller
    endpoint: str  # the management API that posts to it (`https://{api}.execute-api.../stage`)
    connected_at: float
    repositories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Listener:
    """One listener of a repository: a connection (id = connection id) or a callback
    (id = the tenant whose URL it is)."""

    kind: Literal["connection", "callback"]
    id: str
    endpoint: str | None = None  # a connection's management API


@dataclass(frozen=True)
class CallbackRegistration:
    repository_id: str
    tenant: str
    url: str
    sealed_secret: str = field(repr=False)
    registered_at: float = 0.0


@dataclass(frozen=True)
class ClientMessage:
    action: Action
    repository_id: str | None = None


def parse_client_message(body: str | None) -> ClientMessage:
    """A client's frame. Raises InvalidRequest (the client hears an `error` frame)."""
    if body is None or len(body.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        raise InvalidRequest(f"send a JSON object of at most {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidRequest("send a JSON object") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("send a JSON object")
    action = data.get("action")
    if action not in ACTIONS:
        raise InvalidRequest(f"action must be one of {', '.join(ACTIONS)}")
    unknown = set(data) - {"action", "repositoryId"}
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))[:200]}")
    if action == "ping":
        return ClientMessage("ping")
    rid = data.get("repositoryId")
    if not isinstance(rid, str):
        raise InvalidRequest("repositoryId must be a string")
    return ClientMessage(action, validate_repository_id(rid))


def status_snapshot(repo: Repository) -> dict[str, object]:
    """What a subscriber learns at once: enough to know whether to wait."""
    return {
        "status": repo.status.value,
        "indexedSha": repo.indexed_sha,
        "requestedSha": repo.requested_sha,
        "error": repo.error,
        "progress": {
            "filesProcessed": repo.files_processed,
            "numFiles": repo.num_files,
            "filesEmbedded": repo.files_embedded,
        },
    }


def subscribed(repository_id: str, snapshot: Mapping[str, object]) -> dict[str, object]:
    return {"type": "subscribed", "repositoryId": repository_id, "status": dict(snapshot)}


def unsubscribed(repository_id: str) -> dict[str, object]:
    return {"type": "unsubscribed", "repositoryId": repository_id}


def pong() -> dict[str, object]:
    return {"type": "pong"}


def error_frame(code: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"code": code, "message": message}}


def event_frame(event: Event) -> dict[str, object]:
    return {"type": "event", "repositoryId": event.repository_id, "event": event_json(event)}


def progress_frame(repository_id: str, snapshot: Mapping[str, object]) -> dict[str, object]:
    return {"type": "progress", "repositoryId": repository_id, "progress": dict(snapshot)}


def encode_frame(frame: Mapping[str, object]) -> bytes:
    return json.dumps(frame, separators=(",", ":"), default=str).encode()
