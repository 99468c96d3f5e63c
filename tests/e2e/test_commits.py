"""Commits end to end: POST /repositories/{id}/commits through chalice.test.Client on moto
(the idempotency table and the commit lease in DynamoDB), a local bare repository as the
remote, the new commit indexed by the worker pump; the answers' shapes (200, 409 with the
head, 422 with diagnostics), Idempotency-Key replays, tenancy and scopes, and hostile or
oversized input refused with a 4xx that says why."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pygit2
import pytest

from chalicelib import bootstrap
from chalicelib.services.commits import BUSY, commit_lock_id
from tests.e2e.conftest import Stack, bearer, with_settings
from tests.e2e.test_api_keys import make_key
from tests.e2e.test_tenants import (  # noqa: F401 - fixtures
    SERVER_TOKEN,
    TENANT_TOKEN,
    Keys,
    Private,
    index,
    keys,
    private,
    tls,
)
from tests.gitrepo import commit_files, init_repo

FILES = {"shop/cart.py": "def total(items):\n    return sum(items)\n", "README.md": "# Shop\n"}
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "shop.git"
    init_repo(path, FILES, bare=True)
    return path


@pytest.fixture
def rid(stack: Stack, remote: Path) -> str:
    resp = stack.post("/repositories/index", {"url": str(remote)})
    assert resp.status_code == 200, resp.body
    stack.pump.drain()
    repository_id: str = resp.json_body["repositoryId"]
    return repository_id


def head(remote: Path) -> str:
    return str(pygit2.Repository(str(remote)).references["refs/heads/main"].target)


def body(base: str, *changes: Any, **fields: object) -> dict[str, object]:
    given = {
        "branch": "main",
        "baseSha": base,
        "message": "add the tax",
        "author": ADA,
        "changes": list(changes) or [{"path": "shop/tax.py", "content": "RATE = 0.2\n"}],
    }
    return {**given, **fields}


def commit(
    stack: Stack,
    rid: str,
    payload: object,
    key: str | None = None,
    *,
    api_key: str | None = None,
    raw: bytes | None = None,
) -> Any:
    headers = {"Content-Type": "application/json", **bearer(api_key or stack.key)}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = raw if raw is not None else json.dumps(payload).encode()
    return stack.client.http.post(f"/repositories/{rid}/commits", headers=headers, body=data)


def test_a_commit_lands_on_the_remote_and_the_new_commit_is_indexed(
    stack: Stack, rid: str, remote: Path
) -> None:
    base = head(remote)
    png = bytes(range(256))
    changes = [
        {"path": "shop/tax.py", "content": "RATE = 0.2\n"},
        {"path": "shop/logo.png", "contentBase64": base64.b64encode(png).decode()},
        {"path": "README.md", "delete": True},
    ]
    resp = commit(stack, rid, body(base, *changes, check="syntax"), "first")
    assert resp.status_code == 200, resp.body
    answer = resp.json_body
    assert answer == {
        "repositoryId": rid,
        "branch": "main",
        "baseSha": base,
        "sha": head(remote),
        "indexStatus": "indexing",
        "checkId": None,
        "message": f"committed {head(remote)[:12]} on main",
    }
    repo = pygit2.Repository(str(remote))
    landed = repo[answer["sha"]].peel(pygit2.Commit)
    assert [str(p) for p in landed.parent_ids] == [base]
    assert (landed.author.name, landed.author.email) == (ADA["name"], ADA["email"])
    assert repo[landed.tree["shop/logo.png"].id].peel(pygit2.Blob).data == png
    assert "README.md" not in landed.tree
    stack.pump.drain()
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert (status["status"], status["indexedSha"]) == ("ready", answer["sha"])
    assert status["stats"]["blobsReused"] >= 1  # incremental: cart.py was not parsed again
    events = stack.get(f"/repositories/{rid}/events").json_body["events"]
    pushed = [e for e in events if e["type"] == "CommitPushed"]
    assert pushed[0]["data"]["sha"] == answer["sha"] and pushed[0]["actor"].startswith("key:")


def test_a_retry_with_the_same_key_is_answered_the_same_and_pushes_nothing(
    stack: Stack, rid: str, remote: Path
) -> None:
    base = head(remote)
    first = commit(stack, rid, body(base), "same")
    again = commit(stack, rid, body(base), "same")
    assert (again.status_code, again.json_body) == (first.status_code, first.json_body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert head(remote) == first.json_body["sha"]
    other = commit(stack, rid, body(base, {"path": "x.py", "content": "x\n"}), "same")
    assert other.status_code == 422, other.body
    assert other.json_body["error"]["code"] == "idempotency_key_reused"


def test_a_stale_base_is_409_with_the_branch_head_and_changes_nothing(
    stack: Stack, rid: str, remote: Path
) -> None:
    base = head(remote)
    theirs = commit_files(remote, {"theirs.py": "t = 1\n"})
    resp = commit(stack, rid, body(base), "stale")
    assert resp.status_code == 409, resp.body
    assert resp.json_body["currentSha"] == theirs == head(remote)
    assert resp.json_body["error"]["code"] == "branch_moved"
    replay = commit(stack, rid, body(base), "stale")
    assert (replay.status_code, replay.json_body) == (409, resp.json_body)


def test_syntax_errors_are_422_with_exact_positions_and_nothing_is_committed(
    stack: Stack, rid: str, remote: Path
) -> None:
    base = head(remote)
    changes = [
        {"path": "shop/bad.py", "content": "def total(items:\n    return 1\n"},
        {"path": "web/bad.js", "content": "const x = (1 +;\n"},
        {"path": "notes.md", "content": "# fine (\n"},
    ]
    resp = commit(stack, rid, body(base, *changes, check="syntax"))
    assert resp.status_code == 422, resp.body
    found = [(d["path"], d["line"], d["column"], d["tool"]) for d in resp.json_body["diagnostics"]]
    assert ("shop/bad.py", 1, 10, "python") in found
    assert any(p == "web/bad.js" and t == "tree-sitter" for p, _, _, t in found)
    assert resp.json_body["error"]["code"] == "check_failed" and head(remote) == base


def test_a_build_check_is_queued_for_the_new_commit(stack: Stack, rid: str, remote: Path) -> None:
    resp = commit(stack, rid, body(head(remote), check="build"))
    assert resp.status_code == 200, resp.body
    check_id = resp.json_body["checkId"]
    stack.pump.drain()
    check = stack.get(f"/repositories/{rid}/checks/{check_id}").json_body
    assert (check["sha"], check["level"], check["paths"]) == (
        resp.json_body["sha"],
        "build",
        ["shop/tax.py"],
    )
    assert check["status"] in ("passed", "error")  # error: no python on PATH for py_compile


def test_tenancy_and_scopes_are_those_of_the_other_write_routes(
    stack: Stack, rid: str, remote: Path
) -> None:
    base = head(remote)
    other = make_key(stack, "index", "bravo")  # a tenant that did not register it
    reader = make_key(stack, "read", "acme")
    missing = commit(stack, rid, body(base), api_key=other)
    unknown = commit(stack, "local:nothing-here", body(base))
    assert (missing.status_code, unknown.status_code) == (404, 404)
    assert missing.json_body["error"]["code"] == unknown.json_body["error"]["code"]
    assert commit(stack, rid, body(base), api_key=reader).status_code == 403
    anonymous = stack.client.http.post(
        f"/repositories/{rid}/commits",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body(base)).encode(),
    )
    assert anonymous.status_code == 401
    assert head(remote) == base


HOSTILE_PATHS = [
    ("../outside.py", "'..'"),
    ("/etc/passwd", "relative"),
    (".git/hooks/post-update", ".git"),
    ("src/.GIT./config", ".git"),
    ("a\\b.py", "backslashes"),
    ("a\u0001b.py", "control"),
    ("a//b.py", "empty"),
]


def test_hostile_paths_are_400_with_their_rule(stack: Stack, rid: str, remote: Path) -> None:
    base = head(remote)
    for path, words in HOSTILE_PATHS:  # one stack for all: each case is one request
        resp = commit(stack, rid, body(base, {"path": path, "content": "x"}))
        assert resp.status_code == 400, (path, resp.body)
        assert words in resp.json_body["error"]["message"], path
    assert head(remote) == base


MALFORMED: list[tuple[bytes | dict[str, object], str]] = [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    ({"changes": "a.py"}, ""),
    ({"changes": [{"path": "a.py", "content": 5}]}, "content"),
    ({"changes": [{"path": "a.py", "delete": "yes"}]}, "delete"),
    ({"changes": [{"path": "a.py", "delete": False}]}, "delete"),
    ({"changes": [{"path": "a.py"}]}, "exactly one"),
    ({"changes": [{"path": "a.py", "content": "x", "delete": True}]}, "exactly one"),
    ({"changes": [{"path": "a.py", "contentBase64": "%%%"}]}, "base64"),
    ({"changes": [{"path": "a.py", "content": "x", "mode": "100755"}]}, "unknown fields"),
    ({"changes": []}, "changes"),
    ({"author": {"name": "Eve <e@x>", "email": "e@x"}}, "'<'"),
    ({"author": "Eve"}, "author"),
    ({"baseSha": "HEAD"}, "baseSha"),
    ({"branch": "a..b"}, "branch"),
    ({"check": "lint"}, "check"),
    ({"message": ""}, "message"),
    ({"extra": 1}, "unknown fields"),
]


def test_malformed_requests_are_400_and_name_the_problem(
    stack: Stack, rid: str, remote: Path
) -> None:
    base = head(remote)
    for payload, words in MALFORMED:
        if isinstance(payload, bytes):
            resp = commit(stack, rid, None, raw=payload)
        else:
            resp = commit(stack, rid, {**body(base), **payload})
        assert resp.status_code == 400, (payload, resp.body)
        assert words in resp.json_body["error"]["message"], payload
    assert head(remote) == base


def test_a_bad_idempotency_key_is_400(stack: Stack, rid: str, remote: Path) -> None:
    for key in ("has space", "x" * 256):
        resp = commit(stack, rid, body(head(remote)), key)
        assert resp.status_code == 400 and "Idempotency-Key" in resp.json_body["error"]["message"]


def test_oversized_input_is_refused_by_the_limit_it_passes(
    stack: Stack, rid: str, remote: Path
) -> None:
    base = head(remote)
    # Over the general body cap, under the commit route's own: accepted.
    big = {"path": "data/big.txt", "content": "x" * 300_000}
    assert commit(stack, rid, body(base, big)).status_code == 200
    base = head(remote)
    too_big = {"path": "data/huge.txt", "content": "x" * (1024 * 1024 + 1)}
    resp = commit(stack, rid, body(base, too_big))
    assert resp.status_code == 413 and "at most 1048576 bytes" in resp.json_body["error"]["message"]
    many = [{"path": f"f/{n}.txt", "content": "x"} for n in range(201)]
    resp = commit(stack, rid, body(base, *many))
    assert resp.status_code == 400 and "changes" in resp.json_body["error"]["message"]
    huge_body = b'{"branch": "main", "message": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    resp = commit(stack, rid, None, raw=huge_body)
    assert resp.status_code == 413 and "larger than" in resp.json_body["error"]["message"]
    assert head(remote) == base


def test_a_private_remote_takes_the_tenants_own_token_and_the_server_token_for_admins(
    private: Private,  # noqa: F811 - the fixture
    keys: Keys,  # noqa: F811 - the fixture
) -> None:
    stack = private.stack
    subprocess.run(  # the served repository has a worktree: let pushes move its branch
        ["git", "-C", str(private.path), "config", "receive.denyCurrentBranch", "ignore"],
        check=True,
    )
    url = private.url(private.tenant_server)
    made = index(stack, keys.acme, {"url": url, "accessToken": TENANT_TOKEN})
    assert made.status_code == 200, made.body
    acme_rid = made.json_body["repositoryId"]
    stack.pump.drain()
    base = head(private.path / ".git")
    offered = len(private.tenant_server.passwords())
    done = commit(stack, acme_rid, body(base), "acme-1", api_key=keys.acme)
    assert done.status_code == 200, done.body
    assert head(private.path / ".git") == done.json_body["sha"]
    used = private.tenant_server.passwords()[offered:]
    assert used and set(used) == {TENANT_TOKEN}  # the tenant's own token, nothing else
    assert commit(stack, acme_rid, body(base), api_key=keys.bravo).status_code == 404

    org = private.url(private.org_server)  # in STRATA_GIT_TOKEN_SCOPE: the server token
    admin = index(stack, stack.key, {"url": org})
    assert admin.status_code == 200, admin.body
    sha = head(private.path / ".git")
    by_admin = commit(stack, admin.json_body["repositoryId"], body(sha, NEXT), api_key=stack.key)
    assert by_admin.status_code == 200, by_admin.body
    assert private.org_server.passwords()[-1] == SERVER_TOKEN
    for answer in (made, done, admin, by_admin):
        text = answer.body.decode()
        assert TENANT_TOKEN not in text and SERVER_TOKEN not in text


NEXT = {"path": "shop/next.py", "content": "NEXT = 1\n"}


def test_a_branch_another_commit_holds_answers_503_with_retry_after_and_commits_nothing(
    stack: Stack, rid: str, remote: Path
) -> None:
    with_settings(stack, commit_lease_wait_seconds=0.2)
    ports = bootstrap.container().ports
    ports.locks.acquire(commit_lock_id(rid, "main"), "another-commit", 60, ports.clock.now())
    base = head(remote)
    busy = commit(stack, rid, body(base), key="busy-1")
    assert busy.status_code == 503, busy.body
    assert json.loads(busy.body)["error"]["message"] == BUSY
    assert busy.headers["Retry-After"] == "2"  # the client knows when to come back
    assert head(remote) == base
