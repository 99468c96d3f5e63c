"""Callbacks end to end (ADR 24): `notifyUrl` on POST /repositories/index, through
chalice.test.Client on moto with real SQS, a real git repository and a loopback receiver
that verifies each delivery's signature as a client would (HMAC-SHA256 of the raw body)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.domain.callbacks import (
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_matches,
)
from chalicelib.local.provision import provision
from tests.e2e.conftest import Stack, admin_key, make_pump, settings_for, with_settings
from tests.gitrepo import init_repo

SECRET = "callback-secret-0123456789"
FILES = {"app/main.py": "def main():\n    return 'callbacks'\n", "README.md": "# Hooks\n"}


@dataclass
class Receiver:
    """A loopback webhook receiver: answers `statuses` in turn (then 200), and keeps what it
    got with whether the signature verified."""

    statuses: list[int] = field(default_factory=list)
    got: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def record(self, headers: Any, body: bytes) -> int:
        valid = signature_matches(SECRET, body, headers.get(SIGNATURE_HEADER))
        self.got.append({"headers": dict(headers), "body": json.loads(body), "valid": valid})
        if not valid:
            return 401
        return self.statuses.pop(0) if self.statuses else 200

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [g for g in self.got if g["valid"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One moto stack for the module (each test names its own repository and settings)."""
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.setenv(key, "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        settings = settings_for(tmp_path_factory.mktemp("callbacks"))
        with mock_aws():
            provision(settings)
            bootstrap.configure(settings)
            from app import app

            sqs = boto3.client("sqs", region_name=settings.region)
            with Client(app) as client:
                pump = make_pump(app, settings, sqs)
                yield Stack(client, pump, settings, sqs, admin_key())
            bootstrap.reset()


@pytest.fixture
def repo(stack: Stack, request: pytest.FixtureRequest) -> Path:
    """A new repository under the stack's local root."""
    name: str = request.node.name
    path = Path(stack.settings.local_roots[0]) / name
    init_repo(path, FILES)
    return path


@contextmanager
def receiving(statuses: list[int]) -> Iterator[Receiver]:
    found = Receiver(list(statuses))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(found.record(self.headers, body))
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/strata/hook?team=ci"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def index(stack: Stack, path: Path, key: str | None = None, **extra: Any) -> Any:
    body = {"url": str(path), **extra}
    return stack.call("POST", "/repositories/index", body, key=key or stack.key)


def create_key(stack: Stack, tenant: str) -> str:
    r = stack.post("/keys", {"tenant": tenant, "scope": "index"})
    assert r.status_code == 201, r.body
    token: str = json.loads(r.body)["key"]
    return token


@dataclass
class Delivered:
    repository_id: str
    answer: Any  # the 200 of the index request that named the admin's notifyUrl
    flaky: Receiver  # the admin tenant's: 500, 503, then 200
    down: Receiver  # another tenant's: 500 every time
    dlq_depth: int
    status: dict[str, Any]


@pytest.fixture(scope="module")
def delivered(stack: Stack) -> Iterator[Delivered]:
    """One index, two tenants' callbacks of it (loopback allowed, retried at once, three
    attempts): the admin's receiver fails twice then takes it, the other's never does."""
    with_settings(
        stack,
        callback_private=True,
        callback_hosts=(),
        callback_retry_seconds=0,
        callback_attempts=3,
    )
    path = Path(stack.settings.local_roots[0]) / "delivered"
    init_repo(path, FILES)
    other = create_key(stack, "other")
    with receiving([500, 503]) as flaky, receiving([500] * 10) as down:
        answer = index(stack, path, notifyUrl=flaky.url, notifySecret=SECRET)
        assert answer.status_code == 200, answer.body
        also = index(stack, path, key=other, notifyUrl=down.url, notifySecret=SECRET)
        assert also.status_code == 200, also.body
        stack.pump.drain()  # the callback queue too (a failed record is visible at once)
    rid = json.loads(answer.body)["repositoryId"]
    dead = stack.settings.names.dead_letter_queues["callback"]
    status = json.loads(stack.get(f"/repositories/{rid}/status").body)
    yield Delivered(rid, answer, flaky, down, stack.queue_depth(dead), status)


def test_delivers_the_published_generation_signed_to_a_loopback_receiver(
    stack: Stack, delivered: Delivered
) -> None:
    assert SECRET not in delivered.answer.body.decode()
    delivery = delivered.flaky.accepted[-1]
    event = delivery["body"]
    assert event["type"] == "GenerationPublished"
    assert event["repositoryId"] == delivered.repository_id
    assert event["data"]["stats"]["totalFiles"] == len(FILES)
    headers = delivery["headers"]
    assert headers[EVENT_HEADER] == "GenerationPublished"
    assert headers[EVENT_ID_HEADER] == event["id"]
    assert headers[TIMESTAMP_HEADER] == str(event["sentAt"])
    # The same id as the events API shows.
    page = json.loads(stack.get(f"/repositories/{delivered.repository_id}/events").body)
    assert event["id"] in {e["id"] for e in page["events"]}
    # The secret is stored sealed, never as given.
    listeners = bootstrap.container().listeners
    assert listeners is not None
    stored = listeners.callback(delivered.repository_id, "admin")
    assert stored is not None and SECRET not in stored.sealed_secret


def test_retries_a_failing_receiver_then_delivers(delivered: Delivered) -> None:
    # Every attempt was signed; two refusals, then the delivery.
    assert len(delivered.flaky.got) == len(delivered.flaky.accepted) == 3
    ids = {g["body"]["id"] for g in delivered.flaky.accepted}
    assert len(ids) == 1  # the same event each time, so a receiver can drop repeats


def test_a_receiver_that_always_fails_ends_in_the_dlq_without_blocking_the_index(
    delivered: Delivered,
) -> None:
    assert len(delivered.down.got) == 3  # every attempt
    assert delivered.dlq_depth == 1
    assert delivered.status["status"] == "ready"


def test_refuses_a_notify_url_callbacks_may_not_go_to(stack: Stack, repo: Path) -> None:
    refused = [
        ("https://169.254.169.254/latest/meta-data", False),
        ("http://169.254.169.254/latest/meta-data", True),  # never, whatever is allowed
        ("https://10.1.2.3/hook", False),
        ("https://[::1]/hook", False),
        ("https://2130706433/hook", False),  # 127.0.0.1 as a number
        ("https://localhost/hook", False),  # a name that resolves to loopback
        ("http://127.0.0.1:9/hook", False),
        ("http://example.com/hook", False),  # plain http
        ("https://user:pw@example.com/hook", False),
        ("ftp://example.com/hook", False),
        ("https:///hook", False),
    ]
    for private in (False, True):
        with_settings(stack, callback_private=private, callback_hosts=())
        for url in (u for u, p in refused if p is private):
            r = index(stack, repo, notifyUrl=url, notifySecret=SECRET)
            assert r.status_code == 400, (url, r.body)
            assert "notifyUrl" in json.loads(r.body)["error"]["message"], url
    assert stack.pump.drain() == 0  # nothing was requested
    listeners = bootstrap.container().listeners
    assert listeners is not None
    assert not listeners.listeners(f"local:{repo}")


def test_refuses_a_host_off_the_allow_list(stack: Stack, repo: Path) -> None:
    with_settings(stack, callback_private=True, callback_hosts=("hooks.example.com",))
    r = index(stack, repo, notifyUrl="https://other.example.com/x", notifySecret=SECRET)
    assert r.status_code == 400, r.body
    assert "STRATA_CALLBACK_HOSTS" in json.loads(r.body)["error"]["message"]


def test_refuses_notify_fields_of_the_wrong_shape(stack: Stack, repo: Path) -> None:
    with_settings(stack, callback_private=False, callback_hosts=())
    shapes: list[dict[str, Any]] = [
        {"notifyUrl": 5, "notifySecret": SECRET},
        {"notifyUrl": ["https://example.com"], "notifySecret": SECRET},
        {"notifyUrl": {"url": "https://example.com"}, "notifySecret": SECRET},
        {"notifyUrl": "https://example.com/hook", "notifySecret": 12345678901234567},
        {"notifyUrl": "https://example.com/hook", "notifySecret": "short"},
        {"notifyUrl": "https://example.com/hook"},
        {"notifySecret": SECRET},
        {"notifyUrl": "", "notifySecret": SECRET},
        {"notifyUrl": "https://example.com/" + "a" * 2100, "notifySecret": SECRET},
        {"notifyUrl": "https://exa mple.com/hook", "notifySecret": SECRET},
    ]
    for extra in shapes:
        r = index(stack, repo, **extra)
        assert r.status_code == 400, (extra, r.body)
    assert stack.pump.drain() == 0
