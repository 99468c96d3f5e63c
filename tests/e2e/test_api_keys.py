"""API keys end to end through chalice.test.Client on moto: who may call which route, key
management, rate limits, the audit trail's actors, and secrets kept out of logs and answers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.identity import Scope, parse_key
from tests.e2e.conftest import Stack, with_settings
from tests.e2e.test_webhooks import RID, deliver, events, push, repo_path, secret  # noqa: F401
from tests.gitrepo import commit_files, init_repo

READ, INDEX, ADMIN = Scope.READ, Scope.INDEX, Scope.ADMIN
# Every route and the scope it needs; a new route must be added here (and so be decided).
SCOPES: dict[tuple[str, str], Scope | None] = {
    ("GET", "/health"): None,
    ("GET", "/openapi.json"): None,
    ("POST", "/webhooks/github"): None,
    ("GET", "/repositories/{repository_id}/status"): READ,
    ("GET", "/repositories/{repository_id}/events"): READ,
    ("GET", "/repositories/{repository_id}/symbols"): READ,
    ("GET", "/repositories/{repository_id}/graph/nodes/{name}"): READ,
    ("GET", "/repositories/{repository_id}/graph/waves"): READ,
    ("GET", "/repositories/{repository_id}/graph/sorry"): READ,
    ("GET", "/repositories/{repository_id}/checks"): READ,
    ("GET", "/repositories/{repository_id}/checks/{check_id}"): READ,
    ("POST", "/repositories/{repository_id}/checks"): INDEX,
    ("POST", "/repositories/{repository_id}/commits"): INDEX,
    ("POST", "/search"): READ,
    ("POST", "/chat/query"): READ,
    ("POST", "/repositories/index"): INDEX,
    ("POST", "/keys"): ADMIN,
    ("GET", "/keys"): ADMIN,
    ("DELETE", "/keys/{key_id}"): ADMIN,
}
AUTHENTICATED = [route for route, scope in SCOPES.items() if scope is not None]
FILES = {"shop/cart.py": "class Cart:\n    def total(self):\n        return 0\n"}


def concrete(template: str) -> str:
    return (
        template.replace("{repository_id}", "github:acme:widgets")
        .replace("{name}", "Cart")
        .replace("{key_id}", "abcdefghijkl")
        .replace("{check_id}", "0123456789abcdef")
    )


def make_key(stack: Stack, scope: str, tenant: str = "acme") -> str:
    resp = stack.post("/keys", {"tenant": tenant, "scope": scope})
    assert resp.status_code == 201, resp.body
    token: str = resp.json_body["key"]
    return token


def revoke(stack: Stack, token: str) -> Any:
    return stack.call("DELETE", f"/keys/{parse_key(token).key_id}", key=stack.key)


def assert_401(resp: Any) -> None:
    assert resp.status_code == 401, resp.body
    assert resp.json_body["error"]["code"] == "unauthenticated"
    assert resp.json_body["error"]["message"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_every_route_declares_the_scope_it_needs() -> None:
    from app import app

    declared = {
        (method, path): vars(entry.view_function)["strata_scope"]
        for path, methods in app.routes.items()
        for method, entry in methods.items()
    }
    assert declared == SCOPES


@pytest.mark.parametrize("credential", ["missing", "malformed", "wrong", "unknown", "revoked"])
def test_bad_credentials_are_401_on_every_authenticated_route(
    stack: Stack, credential: str
) -> None:
    good = make_key(stack, "admin", "admin")
    bad = {
        "missing": None,
        "malformed": "strata_nope",
        "wrong": good[:-43] + ("A" * 43 if good[-43:] != "A" * 43 else "B" * 43),
        "unknown": "strata_zzzzzzzzzzzz" + good[-44:],
        "revoked": good,
    }[credential]
    if credential == "revoked":
        assert revoke(stack, good).status_code == 200
    for method, template in AUTHENTICATED:
        resp = stack.call(method, concrete(template), {"repositoryId": RID}, key=bad)
        assert_401(resp)
    assert stack.call("GET", "/repositories/x/status", key=bad).headers.get("Retry-After") is None


def test_a_request_without_a_key_is_401_even_with_a_malformed_body(stack: Stack) -> None:
    for path in ("/search", "/repositories/index", "/keys"):
        resp = stack.client.http.post(
            path, headers={"Content-Type": "application/json"}, body=b"[[[{not json"
        )
        assert_401(resp)
    assert_401(stack.call("GET", "/repositories/%FF/status?surprise=1"))
    assert stack.post("/search", None, raw=b"[[[{not json").status_code == 400  # with a key


def test_a_read_key_reads_but_cannot_index_or_manage_keys(stack: Stack) -> None:
    read = make_key(stack, "read")
    assert stack.call("GET", f"/repositories/{RID}/status", key=read).status_code == 200
    refused = [
        stack.call("POST", "/repositories/index", {"url": "/nowhere"}, key=read),
        stack.call("POST", "/keys", {"tenant": "acme", "scope": "admin"}, key=read),
        stack.call("GET", "/keys", key=read),
        stack.call("DELETE", f"/keys/{parse_key(read).key_id}", key=read),
    ]
    for resp in refused:
        assert resp.status_code == 403, resp.body
        assert resp.json_body["error"]["code"] == "access_denied"
        assert "scope" in resp.json_body["error"]["message"]
    assert stack.call("GET", f"/repositories/{RID}/status", key=read).status_code == 200


def test_an_index_key_indexes_and_its_events_name_it_as_actor(stack: Stack, tmp_path: Path) -> None:
    init_repo(tmp_path / "shop", FILES)
    token = make_key(stack, "index")
    resp = stack.call("POST", "/repositories/index", {"url": str(tmp_path / "shop")}, key=token)
    assert resp.status_code == 200, resp.body
    rid = resp.json_body["repositoryId"]
    assert stack.call("GET", "/keys", key=token).status_code == 403
    stack.pump.drain()
    listed = stack.get(f"/repositories/{rid}/events").json_body["events"]
    actors = {e["type"]: e["actor"] for e in listed}
    assert actors["IndexRequested"] == f"key:{parse_key(token).key_id}"
    assert actors["IndexStarted"] is None and actors["GenerationPublished"] is None
    assert token[-43:] not in json.dumps(listed)


def test_webhook_and_sweep_events_name_github_and_the_sweep(
    stack: Stack,
    repo_path: Path,  # noqa: F811
) -> None:
    first = stack.get(f"/repositories/{RID}/status").json_body["indexedSha"]
    sha = commit_files(repo_path, {"widgets/gears.py": "def turn():\n    return 2\n"})
    assert deliver(stack, "push", push(sha, before=first)).status_code == 202
    by_type: dict[str, dict[str, Any]] = {}
    for event in events(stack):  # newest first: keep the webhook's, not the setup's
        by_type.setdefault(event["type"], event)
    assert by_type["WebhookReceived"]["actor"] == "github"
    assert by_type["IndexRequested"]["actor"] == "github"
    stack.pump.drain()
    with_settings(stack, deadline_margin_ms=500)
    commit_files(repo_path, {"README.md": "# moved\n"})
    event = stack.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    assert stack.client.lambda_.invoke("refresh_sweep", event).payload["requested"] == 1
    newest = next(e for e in events(stack) if e["type"] == "IndexRequested")
    assert (newest["data"]["source"], newest["actor"]) == ("sweep", "sweep")


def test_an_admin_creates_lists_and_revokes_keys(stack: Stack) -> None:
    resp = stack.post("/keys", {"tenant": "acme", "scope": "read", "name": "dashboard"})
    assert resp.status_code == 201
    assert resp.headers["Cache-Control"] == "no-store"
    created = resp.json_body
    assert set(created) >= {"keyId", "tenant", "scope", "name", "createdAt", "key"}
    assert (created["tenant"], created["scope"], created["name"]) == ("acme", "read", "dashboard")
    assert created["createdBy"] == f"key:{parse_key(stack.key).key_id}"
    listed = stack.get("/keys?tenant=acme").json_body["keys"]
    assert [k["keyId"] for k in listed] == [created["keyId"]]
    assert "key" not in listed[0] and "digest" not in listed[0]
    assert listed[0]["revokedAt"] is None
    everyone = stack.get("/keys").json_body["keys"]
    assert {k["tenant"] for k in everyone} == {"admin", "acme"}
    gone = stack.call("DELETE", f"/keys/{created['keyId']}", key=stack.key)
    assert gone.status_code == 200 and gone.json_body["revokedAt"]
    again = stack.call("DELETE", f"/keys/{created['keyId']}", key=stack.key)
    assert again.json_body == gone.json_body  # idempotent
    assert_401(stack.call("GET", f"/repositories/{RID}/status", key=created["key"]))
    missing = stack.call("DELETE", "/keys/zzzzzzzzzzzz", key=stack.key)
    assert (missing.status_code, missing.json_body["error"]["code"]) == (404, "not_found")
    bad = stack.post("/keys", {"tenant": "Acme Corp", "scope": "read"})
    assert bad.status_code == 400


def test_the_last_active_admin_key_cannot_be_revoked(stack: Stack) -> None:
    own = parse_key(stack.key).key_id
    refused = stack.call("DELETE", f"/keys/{own}", key=stack.key)
    assert refused.status_code == 409
    assert "last active admin key" in refused.json_body["error"]["message"]
    other = make_key(stack, "admin", "admin")
    assert stack.call("DELETE", f"/keys/{own}", key=other).status_code == 200
    assert_401(stack.get("/keys"))


def test_a_key_over_its_rate_gets_429_with_retry_after(stack: Stack) -> None:
    other = make_key(stack, "read")
    with_settings(stack, rate_per_second=0.5, rate_burst=3)
    path = f"/repositories/{RID}/status"
    for _ in range(3):
        assert stack.call("GET", path, key=other).status_code == 200
    limited = stack.call("GET", path, key=other)
    assert limited.status_code == 429
    assert limited.json_body["error"]["code"] == "rate_limited"
    # One token short at 0.5/s: 2 s, less whatever refilled while the calls ran (no wall time).
    assert limited.headers["Retry-After"] in ("1", "2")
    assert stack.get(path).status_code == 200  # another key has its own bucket
    assert stack.call("GET", "/health").status_code == 200  # open routes are not limited


def test_health_and_the_webhook_need_no_key(stack: Stack) -> None:
    assert stack.call("GET", "/health").json_body == {"status": "ok", "service": "strata"}
    unsigned = stack.client.http.post(
        "/webhooks/github",
        headers={"Content-Type": "application/json", "X-GitHub-Event": "ping"},
        body=b"{}",
    )
    assert unsigned.status_code == 401  # its own check: the signature
    assert "WWW-Authenticate" not in unsigned.headers


def test_secrets_appear_only_in_the_answer_that_creates_them(
    stack: Stack, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    init_repo(tmp_path / "shop", FILES)
    answers: list[str] = []

    def call(method: str, path: str, body: object = None, key: str | None = None) -> Any:
        resp = stack.call(method, path, body, key=key)
        answers.append(json.dumps(resp.json_body) + json.dumps(dict(resp.headers)))
        return resp

    created = call("POST", "/keys", {"tenant": "acme", "scope": "index"}, stack.key)
    token = created.json_body["key"]
    key_secret = parse_key(token).secret
    call("POST", "/repositories/index", {"url": str(tmp_path / "shop")}, token)
    stack.pump.drain()
    call("GET", "/keys", key=stack.key)
    call("GET", f"/repositories/{RID}/events", key=token)
    call("GET", f"/repositories/{RID}/status", key=token[:-1] + "x")  # a wrong secret
    call("DELETE", f"/keys/{parse_key(token).key_id}", key=stack.key)
    call("GET", f"/repositories/{RID}/status", key=token)  # revoked
    assert [key_secret in a for a in answers] == [True] + [False] * (len(answers) - 1)
    assert caplog.records  # the capture works (DEBUG from boto, the app, the pump)
    for text in (key_secret, parse_key(stack.key).secret):
        assert text not in caplog.text
        assert all(text not in str(r.args) for r in caplog.records)
