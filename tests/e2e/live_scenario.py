"""Live status and callbacks in tests/e2e/test_iam_policies.py's scenario (ADR 24): a real
WebSocket client on the loopback gateway, each WebSocket handler run as its own Lambda
function, and a loopback callback receiver that refuses the first delivery."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from websockets.sync.client import ClientConnection, connect

from chalicelib.local.ws_gateway import WebsocketGateway

CALLBACK_SECRET = "iam-callback-secret-0123"
# Chalice's handler names -> the Lambda functions Chalice deploys them as.
WEBSOCKET_FUNCTIONS = {
    "live_connect": "websocket_connect",
    "live_message": "websocket_message",
    "live_disconnect": "websocket_disconnect",
}


class Runs(Protocol):
    def _as(self, function: str, handler: Callable[..., Any]) -> Callable[..., Any]: ...


class _AsFunctions:
    """The app as the gateway sees it, each WebSocket handler run as its Lambda function."""

    def __init__(self, scenario: Runs, app: Any) -> None:
        self.websocket_handlers = app.websocket_handlers
        self.handler_map = {
            name: scenario._as(function, app.handler_map[name])
            for name, function in WEBSOCKET_FUNCTIONS.items()
        }


@contextmanager
def live_gateway(scenario: Runs) -> Iterator[WebsocketGateway]:
    from app import app

    with WebsocketGateway(_AsFunctions(scenario, app)) as gateway:
        yield gateway


@contextmanager
def callback_receiver() -> Iterator[str]:
    """A receiver that answers 500 once, then 200; its URL."""
    answers = [500]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(answers.pop(0) if answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def _answer(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(frame))
    while True:
        got: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if got["type"] not in ("event", "progress"):
            return got


def follow(gateway: WebsocketGateway, key: str, rid: str) -> ClientConnection:
    """Connect with `key` and subscribe to `rid` (then unsubscribe and subscribe again)."""
    headers = {"Authorization": f"Bearer {key}"}
    ws = connect(gateway.url, additional_headers=headers, proxy=None, max_queue=None, legacy=True)
    subscribe = {"action": "subscribe", "repositoryId": rid}
    assert gateway.wait_idle()  # calls are attributed to the function running: one at a time
    for frame, answer in (
        (subscribe, "subscribed"),
        ({**subscribe, "action": "unsubscribe"}, "unsubscribed"),
        (subscribe, "subscribed"),
    ):
        assert _answer(ws, frame)["type"] == answer
        assert gateway.wait_idle()
    return ws


def leave(ws: ClientConnection, gateway: WebsocketGateway) -> None:
    """Close the socket and wait for its $disconnect to have run."""
    ws.close()
    deadline = time.monotonic() + 10
    while gateway.open_connections:
        assert time.monotonic() < deadline, "$disconnect did not run"
        time.sleep(0.05)
    assert gateway.wait_idle()
