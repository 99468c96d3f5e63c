"""Live status over a WebSocket on the local stack (ADR 24): a real WebSocket client connects
with an API key to the loopback WebSocket API, subscribes to a repository, and hears its
events and progress while a real local git repository is indexed; the frames come from the
workers through boto3's apigatewaymanagementapi client and the loopback management API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chalicelib import bootstrap
from chalicelib.domain.identity import Caller, Scope
from chalicelib.domain.live import Connection
from chalicelib.local.cli import main
from chalicelib.local.stack import LocalStack
from tests.gitrepo import commit_files, init_repo
from tests.localstack import ADMIN_KEY, http, running_stack, wait_until, wait_until_indexed

FILES = {f"pkg/module_{n}.py": f"def function_{n}():\n    return {n}\n" for n in range(8)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("state"), processes={}) as running:
        yield running


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("repos") / "live"
    init_repo(path, FILES)
    return path


@pytest.fixture(scope="module")
def repository(stack: LocalStack, checkout: Path) -> str:
    """A local repository the admin tenant registered and indexed; its id."""
    code, body = http(stack.api_url, "POST", "/repositories/index", {"url": str(checkout)})
    assert code == 200, body
    assert wait_until_indexed(stack, body["repositoryId"])["status"] == "ready"
    rid: str = body["repositoryId"]
    return rid


def open_socket(stack: LocalStack, key: str | None = ADMIN_KEY) -> ClientConnection:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return connect(stack.ws_url, additional_headers=headers, proxy=None, open_timeout=10)


def send(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a frame and return the answer to it (frames pushed meanwhile are skipped)."""
    ws.send(json.dumps(frame))
    while True:
        answer: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if answer["type"] not in ("event", "progress"):
            return answer


def frames_until_published(ws: ClientConnection) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while True:
        frame = json.loads(ws.recv(timeout=60))
        frames.append(frame)
        if frame["type"] == "event" and frame["event"]["type"] == "GenerationPublished":
            return frames


def create_key(stack: LocalStack, tenant: str) -> str:
    code, body = http(stack.api_url, "POST", "/keys", {"tenant": tenant, "scope": "read"})
    assert code == 201, body
    token: str = body["key"]
    return token


def test_hears_progress_and_the_published_generation_of_an_index_it_follows(
    stack: LocalStack, repository: str, checkout: Path
) -> None:
    listeners = bootstrap.container().listeners
    assert listeners is not None
    # A subscriber whose socket died without a $disconnect (API Gateway answers 410 Gone).
    dead = Connection("deadconnection0", Caller("nokey", "admin", Scope.READ), "", 0.0)
    listeners.connect(dead, 2e9)
    listeners.subscribe(
        Connection("deadconnection0", dead.caller, stack.ws_gateway.management_url, 0.0),
        repository,
        2e9,
    )
    with open_socket(stack) as ws:
        answer = send(ws, {"action": "subscribe", "repositoryId": repository})
        assert answer["type"] == "subscribed"
        assert answer["status"]["status"] == "ready"
        # Every file changes: the new commit is parsed in several batches (3 files each).
        commit_files(checkout, {name: text + "# changed\n" for name, text in FILES.items()})
        code, reply = http(stack.api_url, "POST", "/repositories/index", {"url": str(checkout)})
        assert code == 200, reply

        frames = frames_until_published(ws)

        kinds = [f["event"]["type"] if f["type"] == "event" else f["type"] for f in frames]
        assert kinds[0] == "IndexRequested"
        assert "IndexStarted" in kinds
        progress = [f["progress"] for f in frames if f["type"] == "progress"]
        assert progress, kinds
        assert all(p["status"] == "indexing" for p in progress)
        assert max(p["progress"]["filesProcessed"] for p in progress) == len(FILES)
        published = frames[-1]["event"]
        assert published["repositoryId"] == repository
        assert published["data"]["stats"]["totalFiles"] == len(FILES)
        assert send(ws, {"action": "ping"}) == {"type": "pong"}
        # The dead connection was pruned by the first push that found it gone.
        assert listeners.connection("deadconnection0") is None
        assert "deadconnection0" not in {x.id for x in listeners.listeners(repository)}
        mine = {x.id for x in listeners.listeners(repository) if x.kind == "connection"}
        assert len(mine) == 1
    # A clean close runs $disconnect, which forgets the connection and its subscription.
    # The gateway lists the socket as open until its $disconnect handler has returned, which is
    # just after the handler forgot the subscription: wait for both.
    wait_until(
        lambda: (
            True
            if not listeners.listeners(repository) and not stack.ws_gateway.open_connections
            else None
        ),
        10,
        "the disconnect",
    )


def test_refuses_a_connection_without_a_valid_api_key(stack: LocalStack) -> None:
    for key in (None, "strata_nosuchkey000_" + "x" * 43, "not-a-key"):
        with pytest.raises(InvalidStatus) as refused:
            open_socket(stack, key)
        assert refused.value.response.status_code == 401
    assert stack.ws_gateway.open_connections == []


def test_refuses_a_subscription_to_a_repository_the_key_may_not_read(
    stack: LocalStack, repository: str
) -> None:
    other = create_key(stack, "other-tenant")
    with open_socket(stack, other) as ws:
        answer = send(ws, {"action": "subscribe", "repositoryId": repository})
        assert answer["type"] == "error"
        assert answer["error"]["code"] == "not_found"
        unknown = send(ws, {"action": "subscribe", "repositoryId": "github:nobody:nothing"})
        assert unknown["error"] == answer["error"]  # the same as an unknown repository
        bad = send(ws, {"action": "listen"})
        assert bad["error"]["code"] == "invalid_request"
        listeners = bootstrap.container().listeners
        assert listeners is not None
        assert all(x.kind != "connection" for x in listeners.listeners(repository))


def test_refuses_a_subscription_once_the_key_is_revoked(
    stack: LocalStack, repository: str, tmp_path: Path
) -> None:
    code, body = http(stack.api_url, "POST", "/keys", {"tenant": "admin", "scope": "read"})
    assert code == 201, body
    with open_socket(stack, body["key"]) as ws:
        code, _ = http(stack.api_url, "DELETE", f"/keys/{body['keyId']}")
        assert code == 200
        answer = send(ws, {"action": "subscribe", "repositoryId": repository})
        assert answer["error"]["code"] == "unauthenticated"


def test_strata_index_follow_waits_over_the_socket(
    stack: LocalStack,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRATA_API_KEY", ADMIN_KEY)
    path = tmp_path_factory.mktemp("repos") / "followed"
    init_repo(path, FILES)
    args = ["--api", stack.api_url, "index", str(path), "--follow", "--ws", stack.ws_url]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "polling" not in err
    assert ": ready at " in out


def test_strata_index_follow_polls_when_the_socket_cannot_be_opened(
    stack: LocalStack,
    repository: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRATA_API_KEY", ADMIN_KEY)
    closed = "ws://127.0.0.1:9"  # the discard port: nothing listens there
    assert main(["--api", stack.api_url, "index", repository, "--follow", "--ws", closed]) == 0
    out, err = capsys.readouterr()
    assert "live status unavailable" in err and "polling instead" in err
    assert ": ready at " in out
