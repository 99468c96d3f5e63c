"""The write gate: the embedded AWS's requests against a capture of its state.

A capture (snapshot.Capturer) reads S3, DynamoDB and SQS one after the other. Handlers write
in an order that keeps their invariants (objects before the DynamoDB item that points at
them, the item before the message that announces it); a capture spread over time could see
the item but miss its objects, or the reverse. So every request that may change state
(any method but GET, HEAD and OPTIONS) passes the gate shared, and a capture holds it
exclusively: it sees each request whole or not at all, a state AWS really was in.

The gate prefers the capture: once it waits, new requests queue behind it, so a steady
stream of requests cannot starve it (a capture takes ~1 ms at local sizes). Long polls would
hold the gate for their whole wait, so the durable stack's pumps poll without waiting and
sleep on `wait_for_send` instead, which the gate signals after every SendMessage(Batch) and
ChangeMessageVisibility.

The gate also counts requests that may change state (`mutations`): a capture knows how many
it covers, so a persist request returns at once when nothing changed since the last commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.local.embedded import WsgiApp

_UNGATED = frozenset({"GET", "HEAD", "OPTIONS"})
# X-Amz-Target actions that change nothing durable (a receive's DLQ move is caught by the
# next commit: nothing acknowledges it).
_READS = (
    "Get",
    "Describe",
    "List",
    "Query",
    "Scan",
    "BatchGet",
    "TransactGet",
    "Receive",
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
)
_WAKES = ("SendMessage", "SendMessageBatch", "ChangeMessageVisibility")


class WriteGate:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._inside = 0
        self._exclusive = False
        self._capturers = 0
        self._sent = threading.Condition()
        self.sends = 0
        self.mutations = 0  # requests that may have changed state, admitted so far

    @contextmanager
    def request(self, mutating: bool = True, sends: bool = False) -> Iterator[None]:
        with self._lock:
            while self._exclusive or self._capturers:
                self._lock.wait()
            self._inside += 1
            if mutating:
                self.mutations += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._capturers:
                    self._lock.notify_all()
            if sends:
                with self._sent:
                    self.sends += 1
                    self._sent.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[int]:
        """No request is inside while this is held; yields the mutations it covers."""
        with self._lock:
            self._capturers += 1
            while self._exclusive or self._inside:
                self._lock.wait()
            self._capturers -= 1
            self._exclusive = True
            covered = self.mutations
        try:
            yield covered
        finally:
            with self._lock:
                self._exclusive = False
                self._lock.notify_all()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        """moto's WSGI app behind this gate (embedded_aws's `wrap`)."""
        return GatedApp(app, self)

    def wait_for_send(self, seen: int, timeout: float) -> None:
        """Return once `sends` has moved past `seen`, or after `timeout` seconds."""
        with self._sent:
            self._sent.wait_for(lambda: self.sends != seen, timeout)


class GatedApp:
    """WSGI middleware: each state-changing request passes `gate` shared, body included."""

    def __init__(self, app: WsgiApp, gate: WriteGate) -> None:
        self._app = app
        self._gate = gate

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") in _UNGATED:
            return self._app(environ, start_response)
        action = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]
        mutating = not action.startswith(_READS)
        with self._gate.request(mutating, sends=action in _WAKES):
            result = self._app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
