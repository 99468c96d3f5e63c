"""`strata index --follow`: wait for an index run over the WebSocket API (live status,
ADR 24) instead of polling the status endpoint.

It connects with the CLI's API key, subscribes to the repository, and reads frames until the
run ends: the `subscribed` answer carries the status at that moment (a run that ended before
the subscription is seen there), `progress` frames feed the progress bar, and a
`GenerationPublished` or `IndexFailed` event ends the wait. When the socket cannot be
opened or the subscription is refused, `LiveUnavailable` says why and the caller polls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from chalicelib.local.render import Progress

OPEN_TIMEOUT = 5.0
ENDS = {"GenerationPublished": "ready", "IndexFailed": "error"}


class LiveUnavailable(Exception):
    """The socket could not be opened, or the subscription was refused."""


def _open(ws_url: str, api_key: str | None) -> ClientConnection:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        return connect(ws_url, additional_headers=headers, proxy=None, open_timeout=OPEN_TIMEOUT)
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        raise LiveUnavailable(f"cannot open {ws_url}: {exc}") from exc


def _frame(ws: ClientConnection, deadline: float | None) -> dict[str, Any]:
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        raw = ws.recv(timeout=left)
    except TimeoutError:
        raise
    except ConnectionClosed as exc:
        raise LiveUnavailable(f"the socket closed: {exc}") from exc
    frame: dict[str, Any] = json.loads(raw)
    return frame


def follow_index(
    ws_url: str,
    api_key: str | None,
    repository_id: str,
    progress: Progress | None,
    timeout: float | None,
) -> str:
    """Wait for the run of `repository_id` to end; its status (`ready` or `error`). Raises
    LiveUnavailable (poll instead) or TimeoutError."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with _open(ws_url, api_key) as ws:
        ws.send(json.dumps({"action": "subscribe", "repositoryId": repository_id}))
        while True:
            frame = _frame(ws, deadline)
            ended = _ended(frame, progress)
            if ended is not None:
                return ended


def _ended(frame: Mapping[str, Any], progress: Progress | None) -> str | None:
    kind = frame.get("type")
    if kind == "error":
        error = frame.get("error") or {}
        raise LiveUnavailable(f"subscription refused: {error.get('message')}")
    if kind in ("subscribed", "progress"):
        snapshot = frame.get("status" if kind == "subscribed" else "progress") or {}
        if progress is not None:
            progress.update(snapshot)
        state = snapshot.get("status")
        if kind == "subscribed" and state in ("ready", "error"):
            return str(state)  # the run ended before the subscription
        return None
    if kind == "event":
        return ENDS.get(str((frame.get("event") or {}).get("type")))
    return None
