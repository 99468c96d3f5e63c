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
    key: str = ""  # an admin API key (tenant admin): post() and get() send it

    def post(self, path: str, body: object, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **bearer(self.key)}
        return self.client.http.post(path, headers=headers, body=data)

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers=bearer(self.key))

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A request with `key` (None: no Authorization header at all) and `headers`."""
        headers = {"Content-Type": "application/json", **bearer(key), **(headers or {})}
        data = b"" if body is None else json.dumps(body).encode()
        return self.client.http.request(method, path, headers=headers, body=data)

    def queue_depth(self, name: str) -> int:
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def admin_key(name: str = "tests") -> str:
    """A new admin key in the configured (moto) tables."""
    return bootstrap.key_admin().create_admin(name=name, by="tests")


def make_pump(app: Any, settings: Settings, sqs: Any) -> WorkerPump:
    routes = {}
    workers = (
        ("index", "index_worker", 1),
        ("parse", "parse_worker", 5),
        ("embed", "embed_worker", 1),
        ("index-dlq", "index_dlq_worker", 10),
        ("parse-dlq", "parse_dlq_worker", 10),
        ("embed-dlq", "embed_dlq_worker", 10),
        ("check", "check_worker", 1),
        ("check-dlq", "check_dlq_worker", 10),
        ("callback", "callback_worker", 1),  # its DLQ has no consumer (ADR 24)
    )
    names = settings.names
    queues = {**names.queues, **{f"{q}-dlq": n for q, n in names.dead_letter_queues.items()}}
    for name, function, batch in workers:
        url = sqs.get_queue_url(QueueName=queues[name])["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        routes[name] = Route(url, arn, app.handler_map[function], function, batch, 0)
    return WorkerPump(sqs, routes, settings.region)


def settings_for(tmp_path: Path, prefix: str = "e2e", bucket: str | None = None) -> Settings:
    """The end-to-end tests' settings: repositories under `tmp_path`, no embedder."""
    return Settings(
        resource_prefix=prefix,
        bucket_name=bucket,
        allow_local_paths=True,
        local_roots=(str(tmp_path),),  # the tests' repositories; anything else is refused
        git_cache_dir=str(tmp_path / "git-cache"),
        parse_batch_files=3,
        embedder="none",  # tests/e2e/test_semantic_search.py runs the real model
        answerer="extractive",  # tests/e2e/test_chat_answers.py asks a loopback model
        rate_burst=100_000,  # tests/e2e/test_api_keys.py tests the limit with its own settings
    )


@pytest.fixture
def e2e_settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
def stack(e2e_settings: Settings) -> Iterator[Stack]:
    with mock_aws():
        provision(e2e_settings)
        bootstrap.configure(e2e_settings)
        from app import app

        sqs = boto3.client("sqs", region_name=e2e_settings.region)
        with Client(app) as client:
            pump = make_pump(app, e2e_settings, sqs)
            yield Stack(client, pump, e2e_settings, sqs, admin_key())
        bootstrap.reset()


def with_settings(stack: Stack, **changes: Any) -> None:
    """Rebuild the composition root with changed settings (same moto state)."""
    stack.settings = replace(stack.settings, **changes)
    bootstrap.configure(stack.settings)
