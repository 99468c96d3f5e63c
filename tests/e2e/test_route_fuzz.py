"""Seeded property-based requests over every route: no 5xx, one error shape, nothing leaked.

One repository is indexed for real (a local git repository, through the worker pump), so the
query routes answer from a generation as well as refuse; the index route's git engine only
knows that repository (no network). Hypothesis is derandomized: every CI run sends the same
cases. The six test functions send FUZZ_CASES requests in all (at least 10,000): five with an
admin API key over the routes' inputs, one over the Authorization header itself (missing,
malformed, wrong secret, revoked, unknown id, huge: always 401, before any input is read).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.domain.identity import parse_key
from chalicelib.errors import RemoteNotFound
from chalicelib.local.provision import provision
from chalicelib.settings import Settings
from tests.e2e.conftest import make_pump
from tests.gitrepo import init_repo

SERVER_TOKEN = "ghs_fuzz_server_token_never_shown"
WEBHOOK_SECRET = "fuzz-webhook-secret"
FILES = {
    "shop/cart.py": "class Cart:\n    def total(self):\n        return sum(self.items)\n",
    "shop/tax.py": "from shop.cart import Cart\n\ndef vat(cart: Cart) -> float:\n    return 0.2\n",
    "README.md": "# Shop\nA cart and its tax.\n",
}
READ_CASES, QUERY_CASES, INDEX_CASES, WEBHOOK_CASES = 4000, 3000, 2000, 1200
AUTH_CASES = 1500
COMMIT_CASES = 1500
FUZZ_CASES = READ_CASES + QUERY_CASES + INDEX_CASES + WEBHOOK_CASES + AUTH_CASES + COMMIT_CASES
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class LocalOnlyGit:
    """The real engine for the one local repository; every other remote is unknown."""

    def __init__(self, inner: Any, allowed: str) -> None:
        self._inner = inner
        self._allowed = allowed

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def guarded(remote: str, *args: Any, **kwargs: Any) -> Any:
            if remote != self._allowed:
                raise RemoteNotFound("the remote repository was not found")
            return method(remote, *args, **kwargs)

        return guarded


@dataclass
class Fuzzed:
    client: Client
    repository_id: str
    secrets: tuple[str, ...]  # strings no response may contain
    key: str  # an admin key, sent unless a test sets Authorization itself
    revoked: str  # a read key, revoked
    read_key: str

    def send(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str | None] | None = None,
    ) -> Any:
        """`headers` beat the fuzz key's; a header given as None is not sent."""
        given = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        sent = {k: v for k, v in given.items() if v is not None}
        resp = self.client.http.request(method, path, headers=sent, body=body)
        check(resp, self.secrets)
        return resp


def check(resp: Any, secrets: tuple[str, ...]) -> None:
    assert resp.status_code < 500, resp.body
    assert resp.status_code != 429, resp.body  # a limited case would not test the route
    text = resp.body.decode("utf-8")
    for secret in secrets:
        assert secret not in text
    if resp.status_code >= 400:
        error = json.loads(text)["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    root = tmp_path_factory.mktemp("fuzz")
    repo = root / "shop"
    init_repo(repo, FILES)
    cache = root / "git-cache"
    s = Settings(
        resource_prefix="fuzz",
        allow_local_paths=True,
        local_roots=(str(root),),
        git_cache_dir=str(cache),
        embedder="none",
        answerer="extractive",
        server_git_token=SERVER_TOKEN,
        rate_per_second=0,  # no limit: every case must reach the route (the limit has its tests)
    )
    with mock_aws():
        provision(s)
        boto3.client("secretsmanager", region_name=s.region).put_secret_value(
            SecretId=s.names.webhook_secret,
            SecretString=json.dumps({"default": WEBHOOK_SECRET}),
        )
        container = bootstrap.build(s)
        git = LocalOnlyGit(container.ports.git, str(repo.resolve()))
        bootstrap.configure(s, replace(container, ports=replace(container.ports, git=git)))
        from app import app

        keys = bootstrap.key_admin()
        admin = keys.create_admin(name="fuzz", by="tests")
        read = keys.create("fuzz", "read", None, by="tests").token
        revoked = keys.create("fuzz", "read", None, by="tests").token
        assert isinstance(read, str) and isinstance(revoked, str)
        keys.revoke(parse_key(revoked).key_id, by="tests")
        auth = {"Authorization": f"Bearer {admin}"}
        with Client(app) as client:
            sqs = boto3.client("sqs", region_name=s.region)
            reply = client.http.post(
                "/repositories/index",
                headers={"Content-Type": "application/json", **auth},
                body=json.dumps({"url": str(repo)}).encode(),
            )
            assert reply.status_code == 200, reply.json_body
            rid = reply.json_body["repositoryId"]
            make_pump(app, s, sqs).drain()
            status = client.http.get(f"/repositories/{rid}/status", headers=auth).json_body
            assert status["status"] == "ready"
            never = (str(root), str(repo.resolve()), SERVER_TOKEN, "repos/")
            key_secrets = tuple(parse_key(k).secret for k in (admin, read, revoked))
            yield Fuzzed(client, rid, never + key_secrets, admin, revoked, read)
        bootstrap.reset()


# --- strategies -----------------------------------------------------------------------

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["\ud800", "a\udfffb"]),  # lone surrogates: json.dumps escapes them
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
DIGITS = st.sampled_from(["²", "①", "٣", "1" * 5000, "-1", "0", "7", "", "1e3", " 5", "९"])


def hostile_raw(depth: int = 100_000) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            b"[" * depth,
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            b"1" * 5000,
            b'{"question": "\\ud800", "repositoryId": "github:a:b"}',
            b'{"n": 1e999}',
            b'{"n": NaN}',
            b"\xff\xfe\x00",
            b"",
            b"null",
            b'{"a": "\x00"}',
        ]
    )


def ids(fuzzed_id: str) -> st.SearchStrategy[str]:
    """Path ids: the real one (plain and percent-encoded), valid-looking ones, and junk."""
    segment = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1)
    return st.one_of(
        st.just(fuzzed_id),
        st.just(quote(fuzzed_id, safe="")),
        st.builds(lambda o, r: f"github:{o}:{r}", segment, segment),
        st.text(min_size=1, max_size=60).map(lambda t: quote(t, safe="")),
        st.sampled_from(["..%2F..%2Fetc", "%ED%A0%80", "%FF", "github%3Aa", "x" * 600]),
    )


def queries(names: list[str]) -> st.SearchStrategy[str]:
    value = st.one_of(DIGITS, st.text(max_size=30), st.sampled_from(["dependents", "function"]))
    keys = st.sampled_from([*names, "surprise", "limit", "q"])
    return st.dictionaries(keys, value, max_size=3).map(urlencode)


def bodies(fields: list[str], rid: str) -> st.SearchStrategy[bytes]:
    value = st.one_of(JSON_VALUE, st.just(rid), st.sampled_from(["hybrid", "symbol", "x" * 3000]))
    structured = st.dictionaries(st.sampled_from([*fields, "extra"]), value, max_size=5)
    return st.one_of(
        structured.map(lambda d: json.dumps(d).encode()),
        JSON_VALUE.map(lambda v: json.dumps(v).encode()),
        hostile_raw(),
        st.binary(max_size=64),
    )


READ_ROUTES = [
    ("/repositories/{id}/status", ["at"]),
    ("/repositories/{id}/events", ["limit", "cursor"]),
    ("/repositories/{id}/symbols", ["q", "kind", "limit"]),
    ("/repositories/{id}/graph/nodes/{name}", ["direction", "depth"]),
    ("/repositories/{id}/graph/waves", []),
    ("/repositories/{id}/graph/sorry", []),
    ("/health", []),
    ("/openapi.json", []),
    ("/keys", ["tenant"]),
]


@st.composite
def read_request(draw: st.DrawFn, rid: str) -> str:
    template, params = draw(st.sampled_from(READ_ROUTES))
    node = st.sampled_from(["Cart", "shop%2Fcart.py", "Cart.total", "%E2%91%A0"]) | ids(rid)
    name = draw(node)
    path = template.replace("{id}", draw(ids(rid))).replace("{name}", name)
    query = draw(queries(params))
    return f"{path}?{query}" if query else path


def test_read_routes_never_answer_5xx(fuzzed: Fuzzed) -> None:
    @settings(FUZZ, max_examples=READ_CASES)
    @given(read_request(fuzzed.repository_id))
    def run(path: str) -> None:
        fuzzed.send("GET", path)

    run()


def test_search_and_chat_never_answer_5xx(fuzzed: Fuzzed) -> None:
    fields = ["repositoryId", "repositoryIds", "owner", "query", "k", "mode", "question"]

    @settings(FUZZ, max_examples=QUERY_CASES)
    @given(
        st.sampled_from(["/search", "/chat/query"]),
        bodies([*fields, "conversationId"], fuzzed.repository_id),
        st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8"]),
    )
    def run(path: str, body: bytes, content_type: str) -> None:
        fuzzed.send("POST", path, body, {"Content-Type": content_type})

    run()


def test_index_requests_never_answer_5xx(fuzzed: Fuzzed) -> None:
    fields = ["owner", "repo", "repositoryId", "url", "branch", "accessToken", "force"]

    @settings(FUZZ, max_examples=INDEX_CASES)
    @given(bodies(fields, fuzzed.repository_id))
    def run(body: bytes) -> None:
        fuzzed.send("POST", "/repositories/index", body, {"Content-Type": "application/json"})

    run()


def test_webhook_deliveries_never_answer_5xx(fuzzed: Fuzzed) -> None:
    headers = st.fixed_dictionaries(
        {
            "Content-Type": st.sampled_from(
                ["application/json", "application/x-www-form-urlencoded"]
            )
        },
        optional={
            "X-GitHub-Event": st.sampled_from(["push", "ping", "x" * 300, "délivery"]),
            "X-GitHub-Delivery": st.sampled_from(["72d3162e-cc78-11e3-81ab-4c9367dc0958", "-"]),
            "X-Hub-Signature-256": st.sampled_from(["sha256=" + "0" * 64, "sha256=zz", ""]),
        },
    )

    @settings(FUZZ, max_examples=WEBHOOK_CASES)
    @given(bodies(["ref", "after", "before", "repository", "deleted"], "x"), headers)
    def run(body: bytes, h: dict[str, str]) -> None:
        fuzzed.send("POST", "/webhooks/github", body, h)

    run()


PATHS = ["shop/new.py", "README.md", "shop", "../x", ".git/config", "a\\b", "/etc/passwd", ""]


@st.composite
def commit_body(draw: st.DrawFn, head: str) -> bytes:
    """A valid commit request with up to two fields replaced by wrong or random ones (so
    most reach git: 409, the checked-out refusal, 422), or anything else."""
    change = st.fixed_dictionaries(
        {"path": st.one_of(st.sampled_from(PATHS), st.text(max_size=30))},
        optional={
            "content": st.one_of(st.text(max_size=40), st.sampled_from(["def (:\n", "\ud800"])),
            "contentBase64": st.sampled_from(["eA==", "%%%", "", "eA=", "A" * 300]),
            "delete": st.sampled_from([True, False, "yes", None]),
        },
    )
    wrong = {
        "branch": st.sampled_from(["feature", "../x", "a" * 300, "", "main.lock"]),
        "baseSha": st.sampled_from(["0" * 40, "HEAD", "A" * 40, ""]),
        "message": st.one_of(st.text(max_size=20), st.just("")),
        "author": st.one_of(
            st.fixed_dictionaries({"name": st.text(max_size=12), "email": st.text(max_size=12)}),
            JSON_VALUE,
        ),
        "changes": st.one_of(st.lists(change, max_size=3), JSON_VALUE),
        "check": st.sampled_from(["syntax", "build", "lint", 1]),
    }
    valid: dict[str, object] = {
        "branch": "main",
        "baseSha": head,
        "message": "fuzz",
        "author": {"name": "Ada", "email": "ada@example.com"},
        "changes": [{"path": "shop/new.py", "content": "x = 1\n"}],
    }
    if draw(st.integers(0, 9)) == 0:
        return draw(bodies([*valid, "check"], "x"))
    for name in draw(st.lists(st.sampled_from(sorted(wrong)), max_size=2, unique=True)):
        valid[name] = draw(wrong[name])
    return json.dumps(valid).encode()


def test_commits_never_answer_5xx(fuzzed: Fuzzed) -> None:
    """The fuzzed repository is a worktree with main checked out: a commit that passes every
    check is refused (400) rather than changing what the other tests read."""
    status = fuzzed.send("GET", f"/repositories/{fuzzed.repository_id}/status").json_body
    keys = st.sampled_from([None, None, None, "k-1", "k-2", "has space", "x" * 300, "é"])
    rids = st.one_of(st.just(fuzzed.repository_id), ids(fuzzed.repository_id))

    @settings(FUZZ, max_examples=COMMIT_CASES)
    @given(rids, commit_body(status["indexedSha"]), keys)
    def run(rid: str, body: bytes, key: str | None) -> None:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        fuzzed.send("POST", f"/repositories/{rid}/commits", body, headers)

    run()


AUTHENTICATED = [
    ("GET", "/repositories/{id}/status"),
    ("GET", "/repositories/{id}/events?limit=5"),
    ("GET", "/repositories/{id}/symbols?q=Cart"),
    ("GET", "/repositories/{id}/graph/nodes/Cart"),
    ("GET", "/repositories/{id}/graph/waves"),
    ("GET", "/repositories/{id}/graph/sorry"),
    ("POST", "/search"),
    ("POST", "/chat/query"),
    ("POST", "/repositories/index"),
    ("POST", "/repositories/{id}/commits"),
    ("POST", "/keys"),
    ("GET", "/keys?tenant=fuzz"),
    ("DELETE", "/keys/{key_id}"),
]
ALPHABET = string.ascii_letters + string.digits + "_-"


@st.composite
def changed_one_character(draw: st.DrawFn, key: str) -> str:
    """`key` with one character of its id or secret replaced by a different one."""
    at = draw(st.integers(min_value=len("strata_"), max_value=len(key) - 1))
    if key[at] == "_" and at == len("strata_") + 12:
        at -= 1  # keep the separator: change the id's last character instead
    other = draw(st.sampled_from([c for c in "abc0123XYZ" if c != key[at]]))
    return key[:at] + other + key[at + 1 :]


def bad_authorizations(f: Fuzzed) -> st.SearchStrategy[str | None]:
    """Authorization values that must all be refused; never a valid key in any spelling."""
    unknown = "strata_" + "z" * 12 + "_" + "A" * 43
    wrong_secret = f.key[: -len("A" * 43)] + "B" * 43
    keyish = st.text(alphabet=ALPHABET, max_size=80).map(lambda t: f"strata_{t}")
    return st.one_of(
        st.none(),  # missing
        st.sampled_from(
            [
                "",
                "Bearer",
                "Bearer ",
                "Basic dXNlcjpwYXNzd29yZA==",
                f"Token {f.key}",
                f.key,  # no scheme
                f"Bearer {f.revoked}",
                f"Bearer {unknown}",
                f"Bearer {wrong_secret}",
                f"Bearer {f.key[:-1]}",
                f"Bearer {f.key}x",
                f"Bearer {f.key}, Bearer {f.key}",
                f"Bearer {f.key.upper()}",
                "Bearer " + "a" * 100_000,  # huge
                "Bearer " + f.key * 50,
                "Bearer strata_" + "\u00e9" * 12 + "_" + "\u0665" * 43,  # non-ASCII
            ]
        ),
        changed_one_character(f.key).map(lambda k: f"Bearer {k}"),
        changed_one_character(f.read_key).map(lambda k: f"Bearer {k}"),
        keyish.map(lambda k: f"Bearer {k}"),
        st.text(max_size=60).map(lambda t: f"Bearer {t}"),
        st.text(max_size=60),
    )


def test_bad_api_keys_are_always_401_before_anything_is_read(fuzzed: Fuzzed) -> None:
    key_id = parse_key(fuzzed.read_key).key_id

    @settings(FUZZ, max_examples=AUTH_CASES)
    @given(
        st.sampled_from(AUTHENTICATED),
        bad_authorizations(fuzzed),
        bodies(["repositoryId", "query", "question", "url", "tenant", "scope"], "x"),
    )
    def run(route: tuple[str, str], authorization: str | None, body: bytes) -> None:
        method, template = route
        path = template.replace("{id}", fuzzed.repository_id).replace("{key_id}", key_id)
        headers: dict[str, str | None] = {
            "Content-Type": "application/json",
            "Authorization": authorization,
        }
        resp = fuzzed.send(method, path, body if method != "GET" else b"", headers)
        assert resp.status_code == 401, (authorization, resp.body)
        assert resp.json_body["error"]["code"] == "unauthenticated"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")

    run()


def test_fuzzing_sends_at_least_ten_thousand_cases() -> None:
    assert FUZZ_CASES >= 10_000


def test_every_route_is_behind_the_request_boundary() -> None:
    from app import app

    views = [
        (path, method, entry.view_function)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
    ]
    assert len(views) >= 11
    for path, method, view in views:
        assert getattr(view, "strata_boundary", False), f"{method} {path} skips the boundary"


# --- the reproducers ----------------------------------------------------------------


@pytest.mark.parametrize("digits", ["%C2%B2", "%E2%91%A0", "%D9%A3", "1" * 5000, "-3", "%EF%BC%95"])
@pytest.mark.parametrize(
    "route",
    [
        "/repositories/{id}/events?limit=",
        "/repositories/{id}/symbols?limit=",
        "/repositories/{id}/graph/nodes/Cart?depth=",
    ],
)
def test_unicode_digits_and_huge_numbers_are_400(fuzzed: Fuzzed, route: str, digits: str) -> None:
    resp = fuzzed.send("GET", route.replace("{id}", fuzzed.repository_id) + digits)
    assert resp.status_code == 400
    assert resp.json_body["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("path", ["/search", "/repositories/index", "/chat/query"])
def test_deeply_nested_json_is_400(fuzzed: Fuzzed, path: str) -> None:
    for raw in (b"[" * 100_000, b'{"a":' * 40 + b"1" + b"}" * 40):
        resp = fuzzed.send("POST", path, raw, {"Content-Type": "application/json"})
        assert resp.status_code == 400
        assert "nested" in resp.json_body["error"]["message"]


def test_deeply_nested_webhook_is_refused_not_500(fuzzed: Fuzzed) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": "sha256=" + "0" * 64,
    }
    resp = fuzzed.send("POST", "/webhooks/github", b"[" * 100_000, headers)
    assert resp.status_code in (400, 401)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/query", '{{"repositoryId": "{rid}", "question": "\\ud800"}}'),
        ("/repositories/index", '{{"url": "/data/\\ud800"}}'),
        ("/search", '{{"repositoryId": "{rid}", "query": "cart \\udfff"}}'),
    ],
)
def test_a_lone_surrogate_is_400(fuzzed: Fuzzed, path: str, body: str) -> None:
    raw = body.format(rid=fuzzed.repository_id).encode()
    resp = fuzzed.send("POST", path, raw, {"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "Unicode" in resp.json_body["error"]["message"]


@pytest.mark.parametrize(
    "route",
    ["status", "events", "symbols?q=Cart", "graph/nodes/Cart", "graph/waves", "graph/sorry"],
)
def test_percent_encoded_ids_name_the_same_repository(fuzzed: Fuzzed, route: str) -> None:
    encoded = quote(fuzzed.repository_id, safe="")
    assert "%3A" in encoded
    plain = fuzzed.send("GET", f"/repositories/{fuzzed.repository_id}/{route}")
    resp = fuzzed.send("GET", f"/repositories/{encoded}/{route}")
    assert resp.status_code == plain.status_code == 200
    assert resp.json_body == plain.json_body


def test_chalice_refusals_use_the_error_shape(fuzzed: Fuzzed) -> None:
    resp = fuzzed.send("POST", "/search", b"{}", {"Content-Type": "text/csv"})
    assert resp.status_code == 415
    assert resp.json_body["error"]["code"] == "unsupported_media_type"
    resp = fuzzed.send("DELETE", "/search")
    assert resp.status_code == 405
