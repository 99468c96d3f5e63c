"""API Gateway's WebSocket API on loopback: a real WebSocket server (the `websockets`
package) that invokes the app's Chalice WebSocket handlers with genuine API Gateway event
shapes, and the management API (`POST`/`DELETE`/`GET /@connections/{id}`) on a second
loopback port, which the same boto3 `apigatewaymanagementapi` client the workers use on
AWS talks to (STRATA_WEBSOCKET_ENDPOINT points it here).

What it does as API Gateway does:
- `$connect` runs during the opening handshake, with the upgrade request's headers and
  query string; an answer other than 2xx refuses the connection with that status;
- each text frame is one `$default` invocation (frames of one connection in order);
- `$disconnect` runs once the socket closed, whichever side closed it;
- posting to an unknown (closed) connection answers 410 GoneException, which boto3 raises
  as `GoneException`, as on AWS; a frame over 128 KiB is refused (413).

Nothing here is a separate code path for the logic: the handlers and the management
client are the deployed ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chalicelib.local.pump import LambdaContext

log = logging.getLogger(__name__)

MAX_FRAME = 128 * 1024  # API Gateway's limit on a WebSocket frame
_SEND_TIMEOUT = 10.0
ROUTES = ("$connect", "$default", "$disconnect")


@dataclass
class _Open:
    socket: ServerConnection
    connected_at: float
    source_ip: str
    user_agent: str
    last_active: float = field(default_factory=time.time)


def _request_time(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


class WebsocketGateway:
    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        management_port: int = 0,
        stage: str = "local",
        api_id: str = "local",
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self.stage = stage
        self.api_id = api_id
        self._open: dict[str, _Open] = {}
        self._pending: dict[Any, str] = {}  # handshakes: websockets' connection id -> ours
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._management = ThreadingHTTPServer((host, management_port), _management_handler(self))
        self._management.daemon_threads = True
        self._management_thread: threading.Thread | None = None
        self._stopped = False
        self._busy = 0  # handler invocations in flight
        self._idle = threading.Condition()

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "the gateway is not started"
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://{self._host}:{port}"

    @property
    def management_url(self) -> str:
        """The endpoint_url of boto3's apigatewaymanagementapi client (with the stage)."""
        port = self._management.server_address[1]
        return f"http://{self._host}:{port}/{self.stage}"

    def start(self) -> WebsocketGateway:
        started = threading.Event()
        failed: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(started, failed), name="strata-ws-gateway", daemon=True
        )
        self._thread.start()
        started.wait(10)
        if failed or self._server is None:
            self._management.server_close()
            raise RuntimeError(f"the WebSocket gateway did not start: {failed[:1]}")
        self._management_thread = threading.Thread(
            target=self._management.serve_forever, name="strata-ws-management", daemon=True
        )
        self._management_thread.start()
        return self

    def _run(self, started: threading.Event, failed: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main() -> None:
            try:
                self._server = await serve(
                    self._serve_connection,
                    self._host,
                    self._port,
                    process_request=self._handshake,
                    max_size=MAX_FRAME,
                )
            except BaseException as exc:
                failed.append(exc)
                started.set()
                return
            started.set()
            await self._server.wait_closed()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    def stop(self) -> None:
        """Close every connection (each gets its $disconnect), then both servers. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._loop is not None and self._server is not None and self._loop.is_running():
            server = self._server
            done = asyncio.run_coroutine_threadsafe(_close(server), self._loop)
            with contextlib.suppress(Exception):
                done.result(15)
        if self._thread is not None:
            self._thread.join(15)
        if self._management_thread is not None:  # shutdown() waits for serve_forever
            self._management.shutdown()
        self._management.server_close()

    def __enter__(self) -> WebsocketGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the WebSocket side ----------------------------------------------------------------

    def _event(self, route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            found = self._open.get(connection_id)
        connected_at = found.connected_at if found else now
        context = {
            "routeKey": route,
            "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": _request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": int(connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {
                "sourceIp": found.source_ip if found else extra.pop("source_ip", "127.0.0.1"),
                "userAgent": found.user_agent if found else extra.pop("user_agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "domainName": self._host,
            "connectionId": connection_id,
            "apiId": self.api_id,
            **extra.pop("context", {}),
        }
        return {"requestContext": context, "isBase64Encoded": False, **extra}

    def _invoke(self, route: str, event: Mapping[str, Any]) -> dict[str, Any]:
        config = self._app.websocket_handlers.get(route)
        if config is None:
            return {"statusCode": 200}
        handler = self._app.handler_map[config.name]
        context = LambdaContext(config.name, 30.0)
        with self._idle:
            self._busy += 1
        try:
            answer = handler(dict(event), context)
        except Exception:
            log.exception("%s handler failed", route)
            return {"statusCode": 500}
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()
        return answer if isinstance(answer, dict) else {"statusCode": 200}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Whether no handler runs (waiting up to `timeout` s): tests that attribute AWS
        calls to the function running wait for this."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    async def _handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        connection_id = secrets.token_urlsafe(12)
        headers = {name: value for name, value in request.headers.raw_items()}
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.raw_items():
            multi.setdefault(name, []).append(value)
        query = parse_qs(urlsplit(request.path).query)
        extra: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi}
        if query:
            extra["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
            extra["multiValueQueryStringParameters"] = query
        peer = socket.remote_address
        extra["source_ip"] = str(peer[0]) if peer else "127.0.0.1"
        extra["user_agent"] = request.headers.get("User-Agent", "")
        event = self._event("$connect", connection_id, **extra)
        answer = await asyncio.to_thread(self._invoke, "$connect", event)
        status = int(answer.get("statusCode", 200))
        if not 200 <= status < 300:
            return socket.respond(status, str(answer.get("body") or "Forbidden") + "\n")
        with self._lock:
            self._pending[socket.id] = connection_id
            self._open[connection_id] = _Open(
                socket, time.time(), extra["source_ip"], extra["user_agent"]
            )
        return None

    async def _serve_connection(self, socket: ServerConnection) -> None:
        with self._lock:
            connection_id = self._pending.pop(socket.id)
        try:
            async for frame in socket:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                with self._lock:
                    if connection_id in self._open:
                        self._open[connection_id].last_active = time.time()
                context = {"messageId": uuid.uuid4().hex[:16]}
                event = self._event("$default", connection_id, body=text, context=context)
                await asyncio.to_thread(self._invoke, "$default", event)
        except ConnectionClosed as exc:  # the client went without a close frame: normal
            log.debug("connection %s closed: %s", connection_id, exc)
        finally:
            code = socket.close_code or 1006
            reason = socket.close_reason or ""
            extra = {"context": {"disconnectStatusCode": code, "disconnectReason": reason}}
            event = self._event("$disconnect", connection_id, headers={}, **extra)
            try:
                await asyncio.to_thread(self._invoke, "$disconnect", event)
            finally:  # listed as open until its $disconnect ran (posts to it answer 410)
                with self._lock:
                    self._open.pop(connection_id, None)

    # --- the management API ----------------------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> int:
        """Send a frame; the HTTP status the management API answers."""
        if len(data) > MAX_FRAME:
            return 413
        with self._lock:
            found = self._open.get(connection_id)
        if found is None or self._loop is None or found.socket.close_code is not None:
            return 410
        message: str | bytes
        try:
            message = data.decode("utf-8")
        except UnicodeDecodeError:
            message = data
        try:
            asyncio.run_coroutine_threadsafe(found.socket.send(message), self._loop).result(
                _SEND_TIMEOUT
            )
        except Exception:
            return 410  # closed meanwhile
        return 200

    def close(self, connection_id: str) -> int:
        with self._lock:
            found = self._open.get(connection_id)
        if found is None or self._loop is None:
            return 410
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(found.socket.close(1000), self._loop).result(
                _SEND_TIMEOUT
            )
        return 204

    def info(self, connection_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._open.get(connection_id)
        if found is None:
            return None

        def iso(ts: float) -> str:
            return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")

        return {
            "ConnectedAt": iso(found.connected_at),
            "Identity": {"SourceIp": found.source_ip, "UserAgent": found.user_agent},
            "LastActiveAt": iso(found.last_active),
        }

    @property
    def open_connections(self) -> list[str]:
        with self._lock:
            return list(self._open)


async def _close(server: Server) -> None:
    server.close()  # closes open connections with 1001 (going away) too
    await server.wait_closed()


_ERRORS = {
    410: ("GoneException", "the connection is gone"),
    413: ("PayloadTooLargeException", "frames are at most 128 KiB"),
    404: ("NotFoundException", "no such route"),
}


def _management_handler(gateway: WebsocketGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("management API: " + format, *args)

        def _connection_id(self) -> str | None:
            path = urlsplit(self.path).path
            marker = "/@connections/"
            if marker not in path:
                return None
            return unquote(path.split(marker, 1)[1]) or None

        def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
            if status in _ERRORS:
                kind, message = _ERRORS[status]
                body = {"message": message}
                self.send_response(status)
                self.send_header("x-amzn-ErrorType", kind)
            else:
                self.send_response(status)
            raw = json.dumps(body).encode() if body is not None else b""
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            cid = self._connection_id()
            self._answer(404 if cid is None else gateway.post(cid, data))

        def do_DELETE(self) -> None:
            cid = self._connection_id()
            self._answer(404 if cid is None else gateway.close(cid))

        def do_GET(self) -> None:
            cid = self._connection_id()
            found = gateway.info(cid) if cid else None
            self._answer(200 if found else (404 if cid is None else 410), found)

    return Handler
