"""Tenants end to end (chalice.test.Client on moto, real git): a repository is seen only by
the tenants that proved access to it; anyone else gets the answers of an unknown repository.
A private remote over HTTPS (tests/integration/git_http_server.py, reached through the egress
proxy as `git.test`) shows whose token goes where, from the Authorization headers it got."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.domain.identity import ADMIN_TENANT
from tests.e2e.conftest import Stack, with_settings
from tests.e2e.test_api_keys import make_key
from tests.egress import GIT_HOST, Guarded, guarded_engine, server_context
from tests.gitrepo import commit_files, init_repo
from tests.integration.git_http_server import GitHttpServer

FILES = {
    "shop/cart.py": "class Cart:\n    def total(self):\n        return 0\n",
    "shop/tax.py": "from shop.cart import Cart\n\n\ndef vat(cart: Cart) -> float:\n    return 1\n",
}
SECRET_FILES = {"config/settings.py": "API_KEY = 'hunter2-private-value'\n"}
UNKNOWN = "github:nobody:nothing"
TENANT_TOKEN = "ghp_acme-only-token"
SERVER_TOKEN = "ghs_the-server-token"


@dataclass(frozen=True)
class Keys:
    acme: str
    bravo: str
    carol: str  # read scope


@pytest.fixture
def keys(stack: Stack) -> Keys:
    return Keys(
        make_key(stack, "index", "acme"),
        make_key(stack, "index", "bravo"),
        make_key(stack, "read", "carol"),
    )


def index(stack: Stack, key: str, body: dict[str, Any]) -> Any:
    return stack.call("POST", "/repositories/index", body, key=key)


def reads(stack: Stack, key: str, rid: str) -> dict[str, tuple[int, str]]:
    """Every read route's answer (status code, body with the id masked)."""
    calls = {
        "status": ("GET", f"/repositories/{rid}/status", None),
        "events": ("GET", f"/repositories/{rid}/events", None),
        "symbols": ("GET", f"/repositories/{rid}/symbols?q=Cart", None),
        "node": ("GET", f"/repositories/{rid}/graph/nodes/Cart", None),
        "waves": ("GET", f"/repositories/{rid}/graph/waves", None),
        "sorry": ("GET", f"/repositories/{rid}/graph/sorry", None),
        "search": ("POST", "/search", {"repositoryId": rid, "query": "cart"}),
        "scope": ("POST", "/search", {"repositoryIds": [rid], "query": "cart"}),
        "chat": ("POST", "/chat/query", {"repositoryId": rid, "question": "what is a cart?"}),
    }
    out = {}
    for name, (method, path, body) in calls.items():
        resp = stack.call(method, path, body, key=key)
        out[name] = (resp.status_code, resp.body.decode().replace(rid, "<id>"))
    return out


def blob_keys(stack: Stack) -> set[str]:
    s3 = boto3.client("s3", region_name=stack.settings.region)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.settings.names.bucket)
    keys = {o["Key"] for page in pages for o in page.get("Contents", [])}
    return {k for k in keys if k.startswith(("blobs/", "vectors/"))}


def test_two_tenants_share_a_repository_and_a_third_gets_unknown_answers(
    stack: Stack, keys: Keys, tmp_path: Path
) -> None:
    init_repo(tmp_path / "shop", FILES)
    first = index(stack, keys.acme, {"url": str(tmp_path / "shop")})
    assert first.status_code == 200, first.body
    rid = first.json_body["repositoryId"]
    stack.pump.drain()
    artifacts = blob_keys(stack)

    second = index(stack, keys.bravo, {"url": str(tmp_path / "shop")})
    assert second.json_body["status"] == "ready"  # registered: nothing to build
    assert stack.queue_depth(stack.settings.names.queues["index"]) == 0
    forced = index(stack, keys.bravo, {"repositoryId": rid, "force": True})
    assert forced.json_body["status"] == "indexing"
    stack.pump.drain()
    status = stack.call("GET", f"/repositories/{rid}/status", key=keys.bravo).json_body
    assert (status["status"], status["stats"]["blobsParsed"]) == ("ready", 0)
    assert blob_keys(stack) == artifacts  # every content-addressed artifact reused

    for key in (keys.acme, keys.bravo, stack.key):
        seen = reads(stack, key, rid)
        assert all(code == 200 for code, _ in seen.values()), seen
        assert '"status": "ready"' in seen["status"][1] or '"ready"' in seen["status"][1]
        assert json.loads(seen["search"][1])["hits"]
    hidden, unknown = reads(stack, keys.carol, rid), reads(stack, keys.carol, UNKNOWN)
    assert hidden == unknown
    assert json.loads(hidden["status"][1])["status"] == "idle"
    assert json.loads(hidden["events"][1])["events"] == []


def test_another_tenants_local_repository_id_names_nothing(
    stack: Stack, keys: Keys, tmp_path: Path
) -> None:
    init_repo(tmp_path / "shop", FILES)
    rid = index(stack, keys.acme, {"url": str(tmp_path / "shop")}).json_body["repositoryId"]
    stack.pump.drain()
    theirs = index(stack, keys.bravo, {"repositoryId": rid})
    unknown = index(stack, keys.bravo, {"repositoryId": "local:nothing-0123abcd"})
    assert theirs.status_code == unknown.status_code == 400
    assert theirs.json_body == unknown.json_body
    assert index(stack, keys.acme, {"repositoryId": rid}).json_body["status"] == "ready"


def test_a_conversation_id_of_another_tenant_is_an_unknown_one(
    stack: Stack, keys: Keys, tmp_path: Path
) -> None:
    init_repo(tmp_path / "shop", FILES)
    rid = index(stack, keys.acme, {"url": str(tmp_path / "shop")}).json_body["repositoryId"]
    index(stack, keys.bravo, {"url": str(tmp_path / "shop")})
    stack.pump.drain()
    ask = {"repositoryId": rid, "question": "what is a cart?"}
    cid = stack.call("POST", "/chat/query", ask, key=keys.acme).json_body["conversationId"]
    theirs = stack.call("POST", "/chat/query", {**ask, "conversationId": cid}, key=keys.bravo)
    assert theirs.status_code == 200 and theirs.json_body["conversationId"] == cid
    table = stack.settings.names.tables["conversations"]
    dynamodb = boto3.client("dynamodb", region_name=stack.settings.region)
    items = dynamodb.scan(TableName=table)["Items"]
    turns = {i["conversation_id"]["S"]: len(i["turns"]["L"]) for i in items}
    assert turns == {f"acme:{cid}": 1, f"bravo:{cid}": 1}  # two conversations, one each


# -- a private remote --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return server_context(tmp_path_factory.mktemp("tls"))


@dataclass
class Private:
    stack: Stack
    guarded: Guarded
    tenant_server: GitHttpServer  # accepts TENANT_TOKEN only
    org_server: GitHttpServer  # accepts SERVER_TOKEN only; under STRATA_GIT_TOKEN_SCOPE
    path: Path  # the repository both serve

    def url(self, server: GitHttpServer) -> str:
        return server.url("acme/secret")

    def configure(self, **changes: Any) -> None:
        """Settings changed, and the engine kept: the guarded one reaching git.test."""
        with_settings(self.stack, **changes)
        c = bootstrap.container()
        engine = self.guarded.engine
        ported = replace(c, ports=replace(c.ports, git=engine), writer=engine)
        bootstrap.configure(self.stack.settings, ported)


@pytest.fixture
def private(stack: Stack, tls: ssl.SSLContext, tmp_path: Path) -> Iterator[Private]:
    served = tmp_path / "served"
    init_repo(served / "acme" / "secret", SECRET_FILES)
    tenant = GitHttpServer(served, tls=tls, host=GIT_HOST, password=TENANT_TOKEN)
    org = GitHttpServer(served, tls=tls, host=GIT_HOST, password=SERVER_TOKEN)
    with tenant, org:
        guarded = guarded_engine(tmp_path / "guarded-cache", [str(tmp_path)])
        guarded.allow(tenant.netloc)
        guarded.allow(org.netloc)
        setup = Private(stack, guarded, tenant, org, served / "acme" / "secret")
        setup.configure(
            git_hosts=(tenant.netloc, org.netloc),
            server_git_token=SERVER_TOKEN,
            git_token_scope=(f"{org.netloc}/acme",),
        )
        yield setup
        guarded.proxy.stop()


def sees(stack: Stack, key: str, rid: str) -> bool:
    found = stack.call("POST", "/search", {"repositoryId": rid, "query": "hunter2"}, key=key)
    return found.status_code == 200 and bool(found.json_body["hits"])


def test_a_private_remote_is_seen_only_by_the_tenant_whose_token_it_accepted(
    private: Private, keys: Keys
) -> None:
    stack, server = private.stack, private.tenant_server
    url = private.url(server)
    first = index(stack, keys.acme, {"url": url, "accessToken": TENANT_TOKEN})
    assert first.status_code == 200, first.body
    rid = first.json_body["repositoryId"]
    stack.pump.drain()
    assert sees(stack, keys.acme, rid)

    offered = server.passwords().count(TENANT_TOKEN)
    refused = [
        index(stack, keys.bravo, {"url": url}),
        index(stack, keys.bravo, {"repositoryId": rid}),  # not on acme's stored token
        index(stack, keys.bravo, {"url": url, "accessToken": "ghp_a-guess"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert server.passwords().count(TENANT_TOKEN) == offered  # acme's token never went out
    assert reads(stack, keys.bravo, rid) == reads(stack, keys.bravo, UNKNOWN)
    assert not sees(stack, keys.bravo, rid)


def test_the_server_token_goes_only_to_an_admin_request_for_a_remote_in_scope(
    private: Private, keys: Keys
) -> None:
    stack, tenant, org = private.stack, private.tenant_server, private.org_server
    assert index(stack, stack.key, {"url": private.url(tenant)}).status_code == 403  # off scope
    assert index(stack, keys.acme, {"url": private.url(org)}).status_code == 403  # no admin
    assert SERVER_TOKEN not in tenant.passwords() + org.passwords()

    resp = index(stack, stack.key, {"url": private.url(org)})
    assert resp.status_code == 200, resp.body
    rid = resp.json_body["repositoryId"]
    stack.pump.drain()
    assert sees(stack, stack.key, rid) and not sees(stack, keys.acme, rid)
    assert SERVER_TOKEN in org.passwords()  # what the assertions above look for


def test_workers_fetch_with_stored_tokens_and_the_server_token_only_where_an_admin_relied(
    private: Private, keys: Keys
) -> None:
    stack, tenant, org = private.stack, private.tenant_server, private.org_server
    acme = index(stack, keys.acme, {"url": private.url(tenant), "accessToken": TENANT_TOKEN})
    admin = index(stack, stack.key, {"url": private.url(org)})
    stack.pump.drain()
    moved = commit_files(private.path, {"config/more.py": "MORE = 1\n"})
    private.configure(deadline_margin_ms=500)  # the test client's context has little time
    event = stack.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    assert stack.client.lambda_.invoke("refresh_sweep", event).payload["requested"] == 2
    stack.pump.drain()
    for resp, key in ((acme, keys.acme), (admin, stack.key)):
        rid = resp.json_body["repositoryId"]
        status = stack.call("GET", f"/repositories/{rid}/status", key=key).json_body
        assert (status["status"], status["indexedSha"]) == ("ready", moved)
    assert SERVER_TOKEN not in tenant.passwords()  # acme's repository: acme's token only
    repo = bootstrap.repo_store().get(admin.json_body["repositoryId"])
    assert repo is not None and repo.uses_server_token and repo.tenants == {ADMIN_TENANT}
