"""The Chalice app over HTTP: a bounded front for chalice's LocalGateway, in a thread.

Chalice's LocalGateway (what `chalice local` runs) turns each request into the API Gateway
proxy event and invokes the app, so routing and the event shape are `chalice local`'s; its
ChaliceRequestHandler writes the answer. Around them, the front holds its resources bounded:
- one accept thread, a listen backlog of LISTEN_BACKLOG, a fixed pool of WORKERS threads;
  connections beyond the pool wait in a queue of QUEUE_SIZE, and past that get a 503;
- deadlines, not per-read timeouts: the request line and headers must arrive within
  `header_timeout`, the body within `body_timeout` (a client trickling a byte at a time cannot
  stretch them), else 408 and the connection is closed; a kept-alive connection is closed
  after KEEP_ALIVE_SECONDS idle, or at once when other connections are waiting;
- Content-Length is checked before the body is read: malformed or negative 400, over
  `max_body_bytes` 413; chunked bodies are refused (411, or 400 next to a Content-Length);
- `before_reply(method, status)` runs after the app answered and before the answer's first
  byte; if it raises, the client gets a 503 instead (durability.py: not durable, not acked).
The front's own errors have the app's shape, {"error": {"code", "message"}}. Request lines go
to the `strata.http` logger at DEBUG.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalChalice, LocalGateway

from chalicelib.local.connection_pool import (
    LINGER_SECONDS,
    STOP_GRACE_SECONDS,
    Pool,
    PooledServer,
    linger,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger("strata.http")

BeforeReply = Callable[[str, int], None]

HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 30.0
WRITE_TIMEOUT_SECONDS = 30.0
KEEP_ALIVE_SECONDS = 5.0  # an idle kept-alive connection holds a worker at most this long
LISTEN_BACKLOG = 128
WORKERS = 16
QUEUE_SIZE = 64
# 4x the app's default limit (Settings.max_body_bytes, 256 KiB): bodies a little over the app's
# limit still reach it and get its own 413; the front only stops lengths no route accepts, before
# buffering them (at most WORKERS x 1 MiB in memory). Raise it with STRATA_MAX_BODY_BYTES.
MAX_BODY_BYTES = 1024 * 1024
_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class FrontLimits:
    header_timeout: float = HEADER_TIMEOUT_SECONDS
    body_timeout: float = BODY_TIMEOUT_SECONDS
    write_timeout: float = WRITE_TIMEOUT_SECONDS
    max_body_bytes: int = MAX_BODY_BYTES
    workers: int = WORKERS
    queue_size: int = QUEUE_SIZE
    backlog: int = LISTEN_BACKLOG


class HttpServer:
    """Serves `app` on host:port (0 picks a free port) from start() until stop()."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        before_reply: BeforeReply | None = None,
        limits: FrontLimits = FrontLimits(),
    ) -> None:
        _thread_local_requests(app)
        config = Config.create(chalice_stage="dev", app_name=getattr(app, "app_name", "strata"))
        gateway = LocalGateway(app, config)
        try:
            self._server = _FrontServer((host, port), gateway, limits, before_reply)
        except OSError as exc:
            why = f"port {port} for the API is unavailable ({exc.strerror}); pick another one"
            raise OSError(exc.errno, why) from None
        self._host = host
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="strata-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> None:
        self._server.start_workers()
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, end idle connections, let requests in flight finish (a few seconds
        at most) and close the socket; safe to call more than once."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=STOP_GRACE_SECONDS)
        self._server.close()


def _thread_local_requests(app: Any) -> None:
    """Workers share the app object, so its current_request must be per thread: chalice's
    LocalChalice makes it a thread-local property. The class swap is done once per app object,
    with a subclass of the app's own class (create_local_server would rebase a shared class and
    bind a socket to do the same)."""
    if not isinstance(app, LocalChalice):
        cls = type(app)
        app.__class__ = type(f"Local{cls.__name__}", (LocalChalice, cls), {})


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _declared_length(headers: Any, cap: int) -> int:
    """The body's length from the headers, or _Refusal."""
    lengths = headers.get_all("Content-Length") or []
    if headers.get_all("Transfer-Encoding"):
        if lengths:
            raise _Refusal(400, "invalid_request", "send Content-Length or Transfer-Encoding")
        raise _Refusal(411, "length_required", "chunked bodies are not supported; send a length")
    if not lengths:
        return 0
    values = {value.strip() for value in lengths}
    text = values.pop()
    if values or not (text.isascii() and text.isdigit()):
        raise _Refusal(400, "invalid_request", "Content-Length must be a non-negative integer")
    if not _DIGITS.fullmatch(text) or int(text) > cap:
        raise _Refusal(413, "payload_too_large", f"request body is larger than {cap} bytes")
    return int(text)


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class _DeadlineReader(io.RawIOBase):
    """Socket reads sharing one deadline: a plain socket timeout restarts with every byte."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = time.monotonic()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the read deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _FrontHandler(ChaliceRequestHandler):
    """ChaliceRequestHandler with deadlines, checked lengths, the hook and JSON errors."""

    disable_nagle_algorithm = True  # headers and body go out in two writes
    rfile: io.BufferedIOBase
    request_version: str

    def __init__(self, request: socket.socket, client_address: Any, server: _FrontServer) -> None:
        self.local_gateway = server.gateway  # one gateway for every connection
        self._front = server
        self._limits = server.limits
        self._served = 0
        self._body: bytes | None = None
        self._answered = False
        self._linger = False
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced: reads go through the deadline
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def finish(self) -> None:
        super().finish()
        if self._linger:
            linger(self.connection, LINGER_SECONDS)

    def handle_one_request(self) -> None:
        wait = self._limits.header_timeout
        if self._served:
            wait = min(wait, KEEP_ALIVE_SECONDS)
        self._reader.deadline = time.monotonic() + wait
        self._served += 1
        self._body, self._answered = None, False
        super().handle_one_request()

    def parse_request(self) -> bool:
        try:
            if not super().parse_request():  # the request line and headers
                return False
            length = _declared_length(self.headers, self._limits.max_body_bytes)
            self._reader.deadline = time.monotonic() + self._limits.body_timeout
            body = self.rfile.read(length) if length else b""
        except _Refusal as refusal:
            self._front_error(refusal.status, refusal.code, refusal.message, linger=True)
            return False
        except TimeoutError:
            self._front_error(408, "request_timeout", "the request did not arrive in time")
            return False
        if len(body) < length:
            self._front_error(400, "invalid_request", "the body is shorter than Content-Length")
            return False
        self._body = body or None
        return True

    def handle_expect_100(self) -> bool:
        try:  # before inviting the body, not after
            _declared_length(self.headers, self._limits.max_body_bytes)
        except _Refusal as refusal:
            self._front_error(refusal.status, refusal.code, refusal.message, linger=True)
            return False
        return BaseHTTPRequestHandler.handle_expect_100(self)

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        return dict(self.headers), self._body  # read (and bounded) by parse_request

    def _handle(self) -> None:
        try:
            self._generic_handle()
        except OSError:
            raise  # the connection broke; nothing to answer
        except Exception:
            log.exception("the local gateway failed on %s %s", self.command, self.path)
            if not self._answered:
                self._front_error(500, "internal", "internal error")
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def _send_http_response(self, code: int, headers: Any, body: str | bytes | None) -> None:
        before_reply = self._front.before_reply
        try:
            if before_reply is not None:
                before_reply(self.command, code)
        except Exception:
            log.exception(
                "before_reply failed; %s %s answers 503, not %d", self.command, self.path, code
            )
            code, body = 503, _error_body("unavailable", "the change could not be made durable")
            headers = {"Content-Type": "application/json"}
        if self._front.crowded():
            headers["Connection"] = "close"  # free the worker for a waiting connection
        self._answered = True
        self.connection.settimeout(self._limits.write_timeout)
        super()._send_http_response(code, headers, body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's refusals (bad request line, headers too large, unknown method), as JSON."""
        phrase = self.responses.get(code, ("error", ""))[0]
        self._front_error(code, re.sub(r"[^a-z0-9]+", "_", phrase.lower()), message or phrase)

    def _front_error(self, status: int, code: str, message: str, *, linger: bool = False) -> None:
        body = _error_body(code, message)
        self._answered, self._linger = True, linger
        if self.request_version == "HTTP/0.9":  # a bad request line: the stdlib's default
            self.request_version = "HTTP/1.0"  # would drop the status line and headers
        self.connection.settimeout(self._limits.write_timeout)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _FrontServer(PooledServer):
    """The pool, with what each handler needs: the gateway, the limits and the hook."""

    def __init__(
        self,
        address: tuple[str, int],
        gateway: LocalGateway,
        limits: FrontLimits,
        before_reply: BeforeReply | None,
    ) -> None:
        self.gateway, self.limits, self.before_reply = gateway, limits, before_reply
        busy = _error_body("unavailable", "the server is busy; retry shortly")
        pool = Pool(limits.workers, limits.queue_size, limits.backlog, busy)
        super().__init__(address, _FrontHandler, pool)
