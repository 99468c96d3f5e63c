"""WebSocket routes of live status (ADR 24): `$connect`, `$default` and `$disconnect` of the
API Gateway WebSocket API, registered on the app in app.py. (Chalice wraps WebSocket
handlers only when they are declared on the app itself: a blueprint's would be handed the
raw event.)

`$connect` authenticates the API key of the upgrade request's `Authorization: Bearer <key>`
header, as every REST route does; a refusal answers 401 and API Gateway refuses the
connection. Frames and what a client hears are in domain/live.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from chalice.app import WebsocketEvent

from chalicelib import bootstrap, observability
from chalicelib.errors import StrataError, TransientError, Unauthenticated

log = logging.getLogger(__name__)
OK: dict[str, Any] = {"statusCode": 200}


def _refusal(status: int, code: str, message: str) -> dict[str, Any]:
    body = {"error": {"code": code, "message": message}}
    return {"statusCode": status, "body": json.dumps(body)}


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name and isinstance(value, str):
            return value
    return None


def management_endpoint(event: WebsocketEvent) -> str:
    """Where the connection's frames are posted: the configured endpoint, else the one
    Chalice's WebsocketAPI.configure_from_api_id derives from the event."""
    configured = bootstrap.settings().websocket_endpoint
    if configured:
        return configured
    context = event.to_dict()["requestContext"]
    region = bootstrap.settings().region
    return f"https://{context['apiId']}.execute-api.{region}.amazonaws.com/{context['stage']}"


def connect(event: WebsocketEvent) -> dict[str, Any]:
    observability.append_keys(connectionId=event.connection_id)
    authorization = _header(event.to_dict().get("headers"), "authorization")
    try:
        sessions = bootstrap.live_sessions()
        sessions.connect(event.connection_id, authorization, management_endpoint(event))
    except Unauthenticated as exc:
        return _refusal(401, exc.code, exc.message)
    except TransientError as exc:
        log.warning("connection refused for now: %s", exc.message)
        return _refusal(503, exc.code, "try again later")
    except StrataError as exc:
        log.error("connection failed: %s", exc.code, exc_info=exc)
        return _refusal(500, "internal", "internal error")
    return OK


def message(event: WebsocketEvent) -> dict[str, Any]:
    observability.append_keys(connectionId=event.connection_id)
    body = event.to_dict().get("body")
    try:
        bootstrap.live_sessions().receive(event.connection_id, body)
    except StrataError as exc:
        log.warning("frame from %s failed: %s", event.connection_id, exc.message)
    return OK


def disconnect(event: WebsocketEvent) -> dict[str, Any]:
    observability.append_keys(connectionId=event.connection_id)
    try:
        bootstrap.live_sessions().disconnect(event.connection_id)
    except StrataError as exc:  # its items expire anyway (TTL)
        log.warning("could not forget connection %s: %s", event.connection_id, exc.message)
    return OK
