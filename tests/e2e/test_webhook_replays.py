"""A captured push sent again cannot roll the index back (signed webhooks through the route,
a real repository, the real engine); a real force push back to an older commit still does.

The payloads are GitHub's own push (tests/fixtures/github-webhooks/push.json), turned into
pushes to the tracked branch of the repository they name. The repository is registered with a
local path as its remote, through the same use case the API ends in (as
tests/e2e/test_webhooks.py does).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pygit2
import pytest

from chalicelib import bootstrap
from chalicelib.domain.models import Repository
from chalicelib.domain.webhook_signatures import sign
from tests.e2e.conftest import Stack
from tests.freshness_harness import fixture_payload
from tests.gitrepo import commit_files, init_repo

RID = "github:Codertocat:Hello-World"
SECRET = "e2e replay secret"


def real_push(after: str, before: str, **changes: Any) -> dict[str, Any]:
    payload = fixture_payload("push.json")
    payload.update(ref="refs/heads/main", before=before, after=after, deleted=False, **changes)
    return payload


def deliver(stack: Stack, payload: dict[str, Any], delivery_id: str | None = None) -> Any:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    return stack.client.http.post("/webhooks/github", headers=headers, body=body)


def status(stack: Stack) -> dict[str, Any]:
    body: dict[str, Any] = stack.get(f"/repositories/{RID}/status").json_body
    return body


@pytest.fixture
def history(stack: Stack, tmp_path: Path) -> tuple[Path, str, str]:
    """Registered at `first`, then a signed push to `second`, indexed: (path, first, second)."""
    boto3.client("secretsmanager", region_name=stack.settings.region).put_secret_value(
        SecretId=stack.settings.names.webhook_secret,
        SecretString=json.dumps({"default": SECRET}),
    )
    path = tmp_path / "hello-world"
    first = init_repo(path, {"README.md": "# Hello\n"})
    registered = Repository(id=RID, remote=str(path), branch="main")
    bootstrap.index_requests().request_at(registered, first, source="api")
    stack.pump.drain()
    second = commit_files(path, {"README.md": "# Hello, World\n"})
    accepted = deliver(stack, real_push(second, first), "delivery-2")
    assert accepted.json_body["status"] == "accepted"
    stack.pump.drain()
    assert (status(stack)["status"], status(stack)["indexedSha"]) == ("ready", second)
    return path, first, second


def test_an_old_push_resent_with_a_new_delivery_id_is_ignored_and_the_index_stays(
    stack: Stack, history: tuple[Path, str, str]
) -> None:
    _, first, second = history

    replay = deliver(stack, real_push(first, "0" * 40), "attacker-chosen-id")

    assert (replay.status_code, replay.json_body) == (
        202,
        {"status": "ignored", "reason": "stale", "repositoryId": RID},
    )
    assert stack.queue_depth(stack.settings.names.queues["index"]) == 0
    stack.pump.drain()
    now = status(stack)
    assert (now["status"], now["indexedSha"], now["headSha"]) == ("ready", second, second)
    found = stack.post("/search", {"repositoryId": RID, "query": "hello world"}).json_body
    assert (found["indexedSha"], found["stale"]) == (second, False)


def test_a_real_force_push_back_to_the_older_commit_is_indexed(
    stack: Stack, history: tuple[Path, str, str]
) -> None:
    path, first, second = history
    pygit2.Repository(str(path)).references["refs/heads/main"].set_target(first)  # push -f

    forced = deliver(stack, real_push(first, second, forced=True))

    assert (forced.status_code, forced.json_body["status"]) == (202, "accepted")
    stack.pump.drain()
    now = status(stack)
    assert (now["status"], now["indexedSha"], now["headSha"]) == ("ready", first, first)
