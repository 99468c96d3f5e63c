"""The embedded AWS: moto's threaded server on 127.0.0.1 with Strata's resources created
from infra/, and the Chalice app's SQS handlers wired to its queues through the pump.

moto keeps its state in process-wide backends that outlive a server: the server's state is
reset when it starts and again when it stops, so a second stack in the same process (tests,
a restart) begins empty and restores only what its snapshot holds.
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
from moto import backends as moto_backends
from moto.server import ThreadedMotoServer

from chalicelib import bootstrap
from chalicelib.local.provision import provision
from chalicelib.local.pump import Route, WorkerPump
from chalicelib.settings import Settings

# (queue, Chalice handler name, batch size, function timeout in seconds): the same values
# Lambda's event source mappings and function configurations use.
WORKERS = (
    ("index", "index_worker", 1, 900.0),
    ("parse", "parse_worker", 5, 300.0),
    ("embed", "embed_worker", 1, 900.0),
    ("index-dlq", "index_dlq_worker", 10, 60.0),
    ("parse-dlq", "parse_dlq_worker", 10, 60.0),
    ("embed-dlq", "embed_dlq_worker", 10, 60.0),
    ("check", "check_worker", 1, 900.0),
    ("check-dlq", "check_dlq_worker", 10, 60.0),
    ("callback", "callback_worker", 1, 60.0),  # its DLQ has no consumer (ADR 24)
)


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class EmbeddedAws:
    settings: Settings
    sqs: Any
    s3: Any

    def client(self, service: str) -> Any:
        return _client(self.settings, service)


def reset_moto(endpoint_url: str) -> None:
    """Empty every moto backend (moto's documented reset API)."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def _list_moto_modules_once() -> None:
    """moto's server resolves each request's backend under one lock, and lists moto's package
    directory (an `isdir` per service, about 150) to do it: about a tenth of the embedded AWS's
    CPU during an index, and every request waits for it. The directory does not change while
    the process runs, so the list is taken once. Idempotent."""
    listing = moto_backends.list_of_moto_modules
    if getattr(listing, "strata_once", False):
        return
    modules = tuple(listing())

    def list_of_moto_modules() -> Iterator[str]:
        return iter(modules)

    list_of_moto_modules.strata_once = True  # type: ignore[attr-defined]
    moto_backends.list_of_moto_modules = list_of_moto_modules


class _WrappedMotoServer(ThreadedMotoServer):
    """moto's threaded server with its WSGI app wrapped (e.g. behind the write gate)."""

    def __init__(self, port: int, wrap: Callable[[WsgiApp], WsgiApp]) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._wrap = wrap

    def start(self) -> None:
        super().start()
        assert self._server is not None
        # Swapped before any request: werkzeug reads `app` per request.
        self._server.app = self._wrap(self._server.app)


@contextmanager
def embedded_aws(
    settings: Settings,
    port: int = 0,
    *,
    visibility_timeout: int | None = None,
    wrap: Callable[[WsgiApp], WsgiApp] | None = None,
) -> Iterator[EmbeddedAws]:
    """Start moto's server on loopback, provision Strata's resources, configure bootstrap.

    `visibility_timeout` overrides the queues' (see provision); None keeps infra/'s. `wrap`
    wraps moto's WSGI app (the durable stack puts it behind its write gate)."""
    for key, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
        os.environ.setdefault(key, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call otherwise
    _require_free_port(port)
    _list_moto_modules_once()
    server = (
        ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        if wrap is None
        else _WrappedMotoServer(port, wrap)
    )
    server.start()
    endpoint = None
    try:
        host, bound = server.get_host_and_port()
        endpoint = f"http://{host}:{bound}"
        reset_moto(endpoint)
        local = replace(settings, endpoint_url=endpoint)
        provision(local, visibility_timeout=visibility_timeout)
        bootstrap.configure(local)
        yield EmbeddedAws(local, _client(local, "sqs"), _client(local, "s3"))
    finally:
        bootstrap.reset()
        try:
            if endpoint is not None:
                reset_moto(endpoint)
        finally:
            server.stop()


def _require_free_port(port: int) -> None:
    """ThreadedMotoServer.start() waits forever when its thread cannot bind: check first."""
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            why = f"port {port} for the embedded AWS is unavailable ({exc.strerror})"
            raise OSError(exc.errno, why) from None


def _client(settings: Settings, service: str) -> Any:
    return boto3.client(service, region_name=settings.region, endpoint_url=settings.endpoint_url)


def worker_pump(app: Any, aws: EmbeddedAws, retry_delay_seconds: int | None = None) -> WorkerPump:
    routes = {}
    names = aws.settings.names
    queues = {**names.queues, **{f"{q}-dlq": n for q, n in names.dead_letter_queues.items()}}
    for name, function, batch, timeout in WORKERS:
        url = aws.sqs.get_queue_url(QueueName=queues[name])["QueueUrl"]
        attrs = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        routes[name] = Route(
            url,
            attrs["Attributes"]["QueueArn"],
            app.handler_map[function],
            function,
            batch,
            retry_delay_seconds,
            timeout,
        )
    return WorkerPump(aws.sqs, routes, aws.settings.region)
