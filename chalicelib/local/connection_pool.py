"""Connections served by a fixed pool of threads: the HTTP front's socket plumbing.

One accept thread hands each connection to a queue that WORKERS threads serve; past
workers + queue a connection is answered `busy_body` as a 503 from the accept thread, which
never blocks: the socket is half-closed and parked a little before its close, so the request
the client may still send does not turn its answer into a reset. `close()` after
`shutdown()` ends idle connections and gives requests in flight a few seconds.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any

log = logging.getLogger("strata.http")

LINGER_SECONDS = 2.0  # after an early error, unread input is drained so the answer is not reset
STOP_GRACE_SECONDS = 5.0
_MAX_PARKED = 256  # refused connections lingering before their close


@dataclass(frozen=True)
class Pool:
    workers: int
    queue_size: int
    backlog: int
    busy_body: bytes  # the 503's JSON body


class PooledServer(socketserver.TCPServer):
    """Accepts on one thread and serves on a fixed pool; beyond pool + queue, answers 503."""

    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[socketserver.BaseRequestHandler],
        pool: Pool,
    ) -> None:
        self.pool = pool
        self.request_queue_size = pool.backlog
        self._queue: SimpleQueue[tuple[socket.socket, Any] | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._admitted = 0  # queued or being served
        self._open: set[socket.socket] = set()
        self._parked: deque[tuple[float, socket.socket]] = deque()
        self._stopping = False
        self._workers = [
            threading.Thread(target=self._work, name=f"strata-http-{n}", daemon=True)
            for n in range(pool.workers)
        ]
        super().__init__(address, handler)

    def start_workers(self) -> None:
        for worker in self._workers:
            worker.start()

    def crowded(self) -> bool:
        return self._admitted > self.pool.workers

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            admit = self._admitted < self.pool.workers + self.pool.queue_size
            if admit:
                self._admitted += 1
        if admit:
            self._queue.put((request, client_address))
        else:
            self._refuse(request)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            request, address = item
            with self._lock:
                serve = not self._stopping
                if serve:
                    self._open.add(request)
            try:
                if serve:
                    self.finish_request(request, address)
            except Exception:
                self.handle_error(request, address)
            finally:
                with self._lock:
                    self._open.discard(request)
                    self._admitted -= 1
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exception(), OSError):  # the client went away
            log.debug("connection from %s ended: %s", client_address, sys.exception())
        else:
            log.exception("the HTTP front failed on a connection from %s", client_address)

    def _refuse(self, sock: socket.socket) -> None:
        """503 from the accept thread without blocking it; the socket lingers a little before
        its close, so the request it may still send does not turn into a reset."""
        log.debug("workers and queue are full: 503")
        body = self.pool.busy_body
        head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
        try:
            sock.setblocking(False)
            discard_input(sock)
            sock.send(head.encode() + body)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        self._parked.append((time.monotonic() + LINGER_SECONDS, sock))
        while len(self._parked) > _MAX_PARKED:
            self._parked.popleft()[1].close()

    def service_actions(self) -> None:  # on the accept thread, between accepts
        now = time.monotonic()
        while self._parked and self._parked[0][0] <= now:
            sock = self._parked.popleft()[1]
            discard_input(sock)
            sock.close()

    def close(self) -> None:
        """After shutdown(): no new connection is served, idle ones end, and the workers are
        given a few seconds to finish the requests in flight."""
        self.server_close()
        with self._lock:
            already, self._stopping = self._stopping, True
            for sock in self._open:  # readers see EOF; answers still go out
                shutdown(sock, socket.SHUT_RD)
        if already:
            return
        for _ in self._workers:
            self._queue.put(None)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for worker in self._workers:
            if worker.is_alive():
                worker.join(max(0.0, deadline - time.monotonic()))
        while self._parked:
            self._parked.popleft()[1].close()


def discard_input(sock: socket.socket) -> None:
    """What has arrived on a non-blocking socket, read and dropped (bounded)."""
    try:
        for _ in range(16):
            if not sock.recv(65536):
                return
    except OSError:
        return


def linger(sock: socket.socket, seconds: float) -> None:
    """Half-close, then read and drop the client's input until it closes (or `seconds`):
    closing with unread input sends a reset, which can destroy the answer in flight."""
    if not shutdown(sock, socket.SHUT_WR):
        return
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                return
    except OSError:
        return


def shutdown(sock: socket.socket, how: int) -> bool:
    try:
        sock.shutdown(how)
    except OSError:
        return False
    return True
