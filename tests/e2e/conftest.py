"""The Chalice app on moto: chalice.test.Client for routes, the worker pump for queues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.local.provision import provision
from chalicelib.local.pump import Route, WorkerPump
from chalicelib.settings import Settings


@dataclass
class Stack:
    client: Client
    pump: WorkerPump
    settings: Settings
    sqs: Any

    def post(self, path: str, body: object, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.http.post(path, headers={"Content-Type": "application/json"}, body=data)

    def get(self, path: str) -> Any:
        return self.client.http.get(path)

    def queue_depth(self, name: str) -> int:
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )


def make_pump(app: Any, settings: Settings, sqs: Any) -> WorkerPump:
    routes = {}
    workers = (
        ("index", "index_worker", 1),
        ("parse", "parse_worker", 5),
        ("embed", "embed_worker", 1),
    )
    for name, function, batch in workers:
        url = sqs.get_queue_url(QueueName=settings.names.queues[name])["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        routes[name] = Route(url, arn, app.handler_map[function], function, batch, 0)
    return WorkerPump(sqs, routes, settings.region)


@pytest.fixture
def e2e_settings(tmp_path: Path) -> Settings:
    return Settings(
        resource_prefix="e2e",
        allow_local_paths=True,
        git_cache_dir=str(tmp_path / "git-cache"),
        parse_batch_files=3,
        embedder="none",  # tests/e2e/test_semantic_search.py runs the real model
    )


@pytest.fixture
def stack(e2e_settings: Settings) -> Iterator[Stack]:
    with mock_aws():
        provision(e2e_settings)
        bootstrap.configure(e2e_settings)
        from app import app

        sqs = boto3.client("sqs", region_name=e2e_settings.region)
        with Client(app) as client:
            yield Stack(client, make_pump(app, e2e_settings, sqs), e2e_settings, sqs)
        bootstrap.reset()


def with_settings(stack: Stack, **changes: Any) -> None:
    """Rebuild the composition root with changed settings (same moto state)."""
    stack.settings = replace(stack.settings, **changes)
    bootstrap.configure(stack.settings)
