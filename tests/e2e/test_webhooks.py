"""Freshness end to end: signed GitHub webhooks, the scheduled sweep and the events API,
through chalice.test.Client on moto with real SQS and a real git repository.

The repository is registered as `github:acme:widgets` whose remote is a local path. The API
cannot register that (a path gives a `local:` id, and a github id names github.com), so the
setup calls the same use case the API ends in, `IndexRequests.request_at`, with that item:
no production code exists only for tests, and everything after registration is the real
path (route -> service -> DynamoDB/SQS -> workers -> git).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.domain.models import Repository
from chalicelib.domain.webhook_signatures import sign
from tests.e2e.conftest import Stack, with_settings
from tests.gitrepo import commit_files, init_repo

RID = "github:acme:widgets"
SECRET = "e2e webhook secret"
FILES = {
    "README.md": "# Widgets\n\nWidgets are assembled by the factory.\n",
    "widgets/factory.py": "class WidgetFactory:\n    def build(self):\n        return 1\n",
}


def push(sha: str, before: str = "0" * 40, ref: str = "refs/heads/main") -> dict[str, Any]:
    return {
        "ref": ref,
        "before": before,
        "after": sha,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [],
        "repository": {
            "name": "widgets",
            "full_name": "acme/widgets",
            "owner": {"name": "acme", "login": "acme"},
        },
        "installation": {"id": 1},
    }


def deliver(
    stack: Stack,
    event: str,
    payload: object,
    *,
    secret: str = SECRET,
    delivery_id: str | None = None,
    signature: str | None = None,
) -> Any:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature if signature is not None else sign(secret, body),
    }
    return stack.client.http.post("/webhooks/github", headers=headers, body=body)


def events(stack: Stack, limit: int = 100) -> list[dict[str, Any]]:
    """Every event of the repository, newest first, following the cursors."""
    seen: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(50):
        page = stack.get(f"/repositories/{RID}/events?limit={limit}&cursor={cursor}").json_body
        seen += page["events"]
        if page["nextCursor"] is None:
            return seen
        cursor = page["nextCursor"]
    raise AssertionError("the cursors did not end")


@pytest.fixture
def secret(stack: Stack) -> str:
    """The deployment's webhook secret (provisioning generated a random one)."""
    secrets = boto3.client("secretsmanager", region_name=stack.settings.region)
    secrets.put_secret_value(
        SecretId=stack.settings.names.webhook_secret,
        SecretString=json.dumps({"default": SECRET}),
    )
    return SECRET


@pytest.fixture
def repo_path(stack: Stack, secret: str, tmp_path: Path) -> Path:
    """A git repository registered as github:acme:widgets and indexed once."""
    path = tmp_path / "widgets"
    sha = init_repo(path, FILES)
    registered = Repository(id=RID, remote=str(path), branch="main")
    bootstrap.index_requests().request_at(registered, sha, source="api")
    stack.pump.drain()
    assert status(stack)["status"] == "ready"
    return path


def status(stack: Stack) -> dict[str, Any]:
    body: dict[str, Any] = stack.get(f"/repositories/{RID}/status").json_body
    return body


def test_a_signed_push_is_indexed_and_its_events_listed(stack: Stack, repo_path: Path) -> None:
    first = status(stack)["indexedSha"]
    sha = commit_files(repo_path, {"widgets/gears.py": "def turn_gears():\n    return 2\n"})
    resp = deliver(stack, "push", push(sha, before=first), delivery_id="delivery-1")
    assert resp.status_code == 202, resp.body
    assert resp.json_body == {
        "status": "accepted",
        "repositoryId": RID,
        "sha": sha,
        "indexStatus": "indexing",
    }
    pending = status(stack)
    assert (pending["status"], pending["headSha"], pending["indexedSha"]) == (
        "indexing",
        sha,
        first,
    )
    assert pending["lagSeconds"] >= 0
    again = deliver(stack, "push", push(sha, before=first), delivery_id="delivery-1")
    assert (again.status_code, again.json_body["status"]) == (200, "duplicate")

    stack.pump.drain()
    ready = status(stack)
    assert (ready["status"], ready["indexedSha"], ready["lagSeconds"]) == ("ready", sha, 0)
    found = stack.post("/search", {"repositoryId": RID, "query": "turn_gears"}).json_body
    assert found["hits"][0]["path"] == "widgets/gears.py"
    assert (found["indexedSha"], found["stale"], found["lagSeconds"]) == (sha, False, 0)

    listed = events(stack, limit=3)
    assert [e["type"] for e in listed] == [
        "GenerationPublished",
        "IndexStarted",
        "IndexRequested",
        "WebhookReceived",
        "GenerationPublished",
        "IndexStarted",
        "IndexRequested",
    ]
    published, started, requested, received = listed[:4]
    assert received["data"] == {
        "deliveryId": "delivery-1",
        "event": "push",
        "ref": "refs/heads/main",
        "after": sha,
    }
    kept = {k: v for k, v in requested["data"].items() if k != "requestedAt"}  # ADR 23 adds it
    assert kept == {"sha": sha, "source": "webhook", "force": False, "branch": "main"}
    assert started["data"]["sha"] == published["data"]["sha"] == sha
    assert published["data"]["stats"]["totalFiles"] == 3
    assert published["at"].endswith("Z") and published["at"] >= received["at"]


def test_a_burst_of_fifty_pushes_coalesces_to_the_newest(stack: Stack, repo_path: Path) -> None:
    before = status(stack)["indexedSha"]
    answers = []
    shas = []
    for n in range(50):
        sha = commit_files(repo_path, {"counter.txt": f"push number {n}\n"}, message=f"c{n}")
        answers.append(deliver(stack, "push", push(sha, before=before)).status_code)
        shas.append(sha)
        before = sha
        if n % 10 == 9:  # the workers run alongside the burst, as they would in AWS
            stack.pump.poll("index")
            stack.pump.poll("parse")
    stack.pump.drain()
    assert all(200 <= code < 300 for code in answers), answers
    final = status(stack)
    assert (final["status"], final["indexedSha"], final["headSha"]) == ("ready", shas[-1], shas[-1])
    listed = events(stack)
    published = [e for e in listed if e["type"] == "GenerationPublished"]
    assert len([e for e in listed if e["type"] == "WebhookReceived"]) == 50
    assert 2 <= len(published) <= 10  # the registration's, then a handful for fifty pushes
    assert published[0]["data"]["sha"] == shas[-1]


def test_a_bad_signature_is_refused_and_nothing_recorded(stack: Stack, repo_path: Path) -> None:
    before = status(stack)
    listed = events(stack)
    sha = commit_files(repo_path, {"x.py": "x = 1\n"})
    wrong = deliver(stack, "push", push(sha), secret="not the secret")
    missing = deliver(stack, "push", push(sha), signature="")
    sha1 = deliver(stack, "push", push(sha), signature="sha1=" + "0" * 40)
    for resp in (wrong, missing, sha1):
        assert resp.status_code == 401
        assert resp.json_body["error"]["code"] == "unauthenticated"
    assert status(stack) == before
    assert events(stack) == listed
    assert stack.queue_depth(stack.settings.names.queues["index"]) == 0
    dynamodb = boto3.client("dynamodb", region_name=stack.settings.region)
    table = stack.settings.names.tables["deliveries"]
    assert dynamodb.scan(TableName=table)["Count"] == 0


def test_ping_malformed_and_oversized_deliveries(stack: Stack, secret: str) -> None:
    assert deliver(stack, "ping", {"zen": "Design for failure.", "hook_id": 1}).status_code == 200
    bad = deliver(stack, "push", {**push("a" * 40), "after": "not-a-sha"})
    assert bad.status_code == 400
    assert "after must be" in bad.json_body["error"]["message"]
    tag = deliver(stack, "push", push("a" * 40, ref="refs/tags/v1"))
    assert (tag.status_code, tag.json_body["status"]) == (202, "ignored")
    with_settings(stack, max_body_bytes=1024)
    big = deliver(stack, "push", {**push("a" * 40), "commits": ["x" * 2000]})
    assert big.status_code == 413


def test_the_scheduled_sweep_indexes_a_moved_remote(stack: Stack, repo_path: Path) -> None:
    # chalice.test's Lambda context reports 3 s left: keep the deadline margin below that.
    with_settings(stack, deadline_margin_ms=500)
    moved = commit_files(repo_path, {"README.md": "# Widgets\n\nNow with sprockets.\n"})
    event = stack.client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/refresh_sweep"],
    )
    report = stack.client.lambda_.invoke("refresh_sweep", event).payload
    assert report == {
        "checked": 1,
        "requested": 1,
        "requeued": 0,
        "failed": 0,
        "skipped": 0,
        "finished": True,
    }
    again = stack.client.lambda_.invoke("refresh_sweep", event).payload
    assert again["requested"] == 0  # EventBridge may invoke twice: nothing more happens
    stack.pump.drain()
    assert (status(stack)["status"], status(stack)["indexedSha"]) == ("ready", moved)
    requested = next(e for e in events(stack) if e["type"] == "IndexRequested")
    assert requested["data"]["source"] == "sweep"


def test_a_push_not_on_the_branch_then_the_real_head_ends_ready(
    stack: Stack, repo_path: Path
) -> None:
    indexed = status(stack)["indexedSha"]
    bogus = "b" * 40
    accepted = deliver(stack, "push", push(bogus, before=indexed))
    assert (accepted.status_code, accepted.json_body["indexStatus"]) == (202, "indexing")
    stack.pump.drain()
    failed = status(stack)
    assert (failed["status"], failed["indexedSha"]) == ("error", indexed)
    assert failed["headSha"] == indexed  # never the bogus SHA: it is not the remote's
    assert failed["error"] == f"commit {bogus[:12]} is not on branch 'main'"
    found = stack.post("/search", {"repositoryId": RID, "query": "WidgetFactory"}).json_body
    assert (found["stale"], found["lagSeconds"]) == (False, 0)

    again = deliver(stack, "push", push(indexed, before=indexed))
    assert (again.status_code, again.json_body["status"]) == (202, "accepted")
    stack.pump.drain()

    ready = status(stack)
    assert (ready["status"], ready["indexedSha"], ready["headSha"]) == ("ready", indexed, indexed)
    assert (ready["error"], ready["lagSeconds"]) == (None, 0)
    found = stack.post("/search", {"repositoryId": RID, "query": "WidgetFactory"}).json_body
    assert (found["stale"], found["lagSeconds"]) == (False, 0)
