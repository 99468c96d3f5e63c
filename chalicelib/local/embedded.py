"""The embedded AWS: moto's threaded server on 127.0.0.1 with Strata's resources created
from infra/, and the Chalice app's SQS handlers wired to its queues through the pump."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from chalicelib import bootstrap
from chalicelib.local.provision import provision
from chalicelib.local.pump import Route, WorkerPump
from chalicelib.settings import Settings

# (queue, Chalice handler name, batch size): the same pairs Lambda's event sources use.
WORKERS = (("index", "index_worker", 1), ("parse", "parse_worker", 5))


@dataclass(frozen=True)
class EmbeddedAws:
    settings: Settings
    sqs: Any
    s3: Any


@contextmanager
def embedded_aws(settings: Settings, port: int = 0) -> Iterator[EmbeddedAws]:
    """Start moto's server on loopback, provision Strata's resources, configure bootstrap."""
    for key, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
        os.environ.setdefault(key, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        host, bound = server.get_host_and_port()
        local = replace(settings, endpoint_url=f"http://{host}:{bound}")
        provision(local)
        bootstrap.configure(local)

        def client(service: str) -> Any:
            return boto3.client(service, region_name=local.region, endpoint_url=local.endpoint_url)

        yield EmbeddedAws(local, client("sqs"), client("s3"))
    finally:
        bootstrap.reset()
        server.stop()


def worker_pump(app: Any, aws: EmbeddedAws, retry_delay_seconds: int | None = None) -> WorkerPump:
    routes = {}
    for name, function, batch in WORKERS:
        url = aws.sqs.get_queue_url(QueueName=aws.settings.names.queues[name])["QueueUrl"]
        attrs = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        routes[name] = Route(
            url,
            attrs["Attributes"]["QueueArn"],
            app.handler_map[function],
            function,
            batch,
            retry_delay_seconds,
        )
    return WorkerPump(aws.sqs, routes, aws.settings.region)
