"""GitHub webhook deliveries: signatures, secrets and payloads (the real ones included)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from chalicelib.api import views
from chalicelib.domain.events import EventType
from chalicelib.domain.webhook_signatures import (
    WebhookSecrets,
    parse_signature,
    parse_webhook_secrets,
    sign,
    signature_matches,
)
from chalicelib.domain.webhooks import Push, parse_payload, parse_push
from chalicelib.errors import InvalidRequest, PermanentError, Unauthenticated
from chalicelib.services.webhooks import CachedWebhookSecrets
from tests.freshness_harness import (
    SECRET,
    SECRET_NAME,
    FreshnessHarness,
    fixture_names,
    fixture_payload,
    push_payload,
    signed_headers,
)
from tests.harness import REMOTE, REPO_ID

BODY = b'{"zen": "Keep it logically awesome."}'


@pytest.fixture
def h() -> FreshnessHarness:
    return FreshnessHarness()


def assert_nothing_recorded(h: FreshnessHarness) -> None:
    assert h.deliveries.items == {}
    assert h.events.items == {}
    assert not h.queue.pending


# Signatures


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("", "missing"),
        ("sha1=" + "a" * 40, "sha256=<hex digest>"),
        ("sha256=" + "a" * 63, "not a sha256 hex digest"),
        ("sha256=" + "g" * 64, "not a sha256 hex digest"),
        ("sha256:" + "a" * 64, "sha256=<hex digest>"),
        ("a" * 64, "sha256=<hex digest>"),
    ],
)
def test_parse_signature_refuses_missing_malformed_and_other_algorithms(
    header: str | None, why: str
) -> None:
    with pytest.raises(Unauthenticated, match=why):
        parse_signature(header)


def test_signature_matches_only_the_exact_body_and_secret() -> None:
    digest = parse_signature(sign("s1", BODY))
    assert signature_matches(["s1"], BODY, digest)
    assert signature_matches(["old", "s1"], BODY, digest)  # rotation: either secret
    assert not signature_matches(["s2"], BODY, digest)
    assert not signature_matches(["s1"], BODY + b" ", digest)
    assert not signature_matches([], BODY, digest)
    assert parse_signature(sign("s1", BODY).upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize(
    ("secret", "repository", "accepted"),
    [
        ("default-secret", "github:acme:widgets", True),
        ("default-secret", "github:acme:private", False),  # has its own secret
        ("private-secret", "github:acme:private", True),
        ("private-secret", "github:Acme:Private", True),  # GitHub names ignore case
        ("next-private", "github:acme:private", True),  # rotation: a list of secrets
        ("private-secret", "github:acme:widgets", False),
        ("default-secret", None, True),  # ping from an organization hook: no repository
    ],
)
def test_per_repository_secret_replaces_the_default(
    secret: str, repository: str | None, accepted: bool
) -> None:
    secrets = parse_webhook_secrets(
        json.dumps(
            {
                "default": "default-secret",
                "repositories": {"github:acme:private": ["private-secret", "next-private"]},
            }
        )
    )
    digest = parse_signature(sign(secret, BODY))
    assert signature_matches(secrets.for_repository(repository), BODY, digest) is accepted


@pytest.mark.parametrize(
    "document",
    ["not json", "[]", '{"default": ""}', '{"default": 3}', '{"repositories": []}'],
)
def test_a_malformed_secret_document_is_a_permanent_error(document: str) -> None:
    with pytest.raises(PermanentError, match="webhook secret"):
        parse_webhook_secrets(document)


def test_no_default_means_only_listed_repositories_are_accepted() -> None:
    secrets = parse_webhook_secrets('{"repositories": {"github:a:b": "x"}}')
    assert secrets.for_repository("github:a:c") == ()
    assert secrets.for_repository("github:a:b") == ("x",)
    assert WebhookSecrets().for_repository(None) == ()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": sign("wrong secret", json.dumps(push_payload("a" * 40)).encode())},
        {"X-Hub-Signature-256": "sha1=" + "0" * 40},
        {"X-Hub-Signature-256": "sha256=nothex"},
    ],
    ids=["missing", "wrong-secret", "sha1", "malformed"],
)
def test_an_unsigned_or_badly_signed_delivery_is_refused_and_nothing_recorded(
    h: FreshnessHarness, headers: dict[str, str]
) -> None:
    h.register()
    h.queue.pending.clear()
    h.events.items.clear()
    with pytest.raises(Unauthenticated):
        h.deliver("push", push_payload("a" * 40), headers=headers)
    assert_nothing_recorded(h)


def test_the_signature_is_checked_before_the_body_is_judged(h: FreshnessHarness) -> None:
    body = b"{not json"
    headers = {**signed_headers(body, "push"), "X-Hub-Signature-256": sign("wrong", body)}
    with pytest.raises(Unauthenticated):
        h.receiver().receive(body, headers)
    with pytest.raises(InvalidRequest, match="not JSON"):
        h.receiver().receive(body, signed_headers(body, "push"))


def test_every_delivery_is_refused_while_no_secret_exists(h: FreshnessHarness) -> None:
    h.secret_store.secrets.clear()
    with pytest.raises(Unauthenticated):
        h.deliver("ping", {"zen": "x"})
    assert_nothing_recorded(h)


def test_the_secret_is_read_once_per_ttl(h: FreshnessHarness) -> None:

    cache = CachedWebhookSecrets(h.secret_store, SECRET_NAME, h.clock, ttl_seconds=300)
    for _ in range(3):
        assert cache.get().default == (SECRET,)
    h.clock.advance(301)
    cache.get()
    assert h.secret_store.reads == 2


# Real payloads


def _event_of(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


@pytest.mark.parametrize("name", fixture_names())
def test_every_real_payload_is_accepted_and_answered(h: FreshnessHarness, name: str) -> None:
    payload = fixture_payload(name)
    event = _event_of(name)
    outcome = h.deliver(event, payload)
    if event == "ping":
        assert views.webhook_outcome(outcome) == {"status": "pong"}
    else:
        assert outcome.status == "ignored"
    assert not h.queue.pending


# What each real push says, read off the file by hand: every push fixture has its own row.
HELLO_WORLD = "github:Codertocat:Hello-World"
TAG_DELETED = Push(
    repository_id=HELLO_WORLD,
    ref="refs/tags/simple-tag",
    before="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    after="0" * 40,
    deleted=True,
)
REAL_PUSHES = {
    "push.json": (TAG_DELETED, None),
    "push.with-installation.json": (TAG_DELETED, None),
    "push.with-new-branch.json": (
        Push(
            repository_id=HELLO_WORLD,
            ref="refs/heads/master",
            before="0" * 40,
            after="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            created=True,
        ),
        "master",
    ),
}


def test_every_real_push_fixture_has_its_expected_values() -> None:
    assert sorted(REAL_PUSHES) == [n for n in fixture_names() if n.startswith("push")]


@pytest.mark.parametrize(("name", "expected", "branch"), [(n, *v) for n, v in REAL_PUSHES.items()])
def test_real_push_payloads_parse_to_the_repository_and_ref(
    name: str, expected: Push, branch: str | None
) -> None:
    push = parse_push(fixture_payload(name))

    assert push == expected
    assert push.branch == branch
    assert push.is_tag is (branch is None)


def test_a_real_tag_push_to_a_registered_repository_is_recorded_and_ignored(
    h: FreshnessHarness,
) -> None:
    payload = fixture_payload("push.with-installation.json")
    rid = "github:Codertocat:Hello-World"
    h.git.commit("https://github.com/Codertocat/Hello-World.git", {"a.txt": "a"})
    h.request(repository_id=rid)
    h.run()
    outcome = h.deliver("push", payload)
    assert views.webhook_outcome(outcome) == {
        "status": "ignored",
        "reason": "tag pushes are not indexed",
        "repositoryId": rid,
    }
    assert h.events.types(rid)[-1] == EventType.WEBHOOK_RECEIVED


def test_a_form_encoded_delivery_is_read_from_its_payload_field(h: FreshnessHarness) -> None:
    h.register()
    sha = h.git.commit(REMOTE, {"README.md": "# Widgets v2\n"})
    body = urlencode({"payload": json.dumps(push_payload(sha))}).encode()
    headers = {
        **signed_headers(body, "push"),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    outcome = h.receiver().receive(body, headers)
    assert outcome.status == "accepted"
    assert h.repo().requested_sha == sha


def test_repository_id_falls_back_to_owner_login_and_name() -> None:
    payload = push_payload("a" * 40)
    del payload["repository"]["full_name"]
    payload["repository"]["owner"] = {"login": "acme"}
    assert parse_push(payload).repository_id == REPO_ID


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"repository": None}, "no repository"),
        ({"repository": {"full_name": 7}}, "owner/name"),
        ({"repository": {"full_name": "a/b/c"}}, "owner/name"),
        ({"repository": {"full_name": "../etc"}}, "owner"),
        ({"ref": None}, "ref must be"),
        ({"ref": 12}, "ref must be"),
        ({"after": None}, "after must be"),
        ({"after": "abc"}, "after must be"),
        ({"after": "z" * 40}, "after must be"),
        ({"before": 5}, "before must be"),
        ({"deleted": "yes"}, "deleted must be a boolean"),
    ],
)
def test_a_malformed_push_answers_400_and_records_nothing(
    h: FreshnessHarness, change: dict[str, object], why: str
) -> None:
    payload = {**push_payload("a" * 40), **change}
    with pytest.raises(InvalidRequest, match=why):
        h.deliver("push", payload)
    assert_nothing_recorded(h)


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"not json", "not JSON"), (b"[1, 2]", "JSON object"), (b"\xff\xfe", "UTF-8")],
)
def test_a_body_that_is_not_a_json_object_answers_400(
    h: FreshnessHarness, body: bytes, why: str
) -> None:
    with pytest.raises(InvalidRequest, match=why):
        h.deliver("push", body)
    with pytest.raises(InvalidRequest, match="payload"):
        parse_payload(b"a=b", "application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-GitHub-Event": ""}, "X-GitHub-Event"),
        ({"X-GitHub-Event": "Push Event"}, "X-GitHub-Event"),
        ({"X-GitHub-Delivery": ""}, "X-GitHub-Delivery"),
        ({"X-GitHub-Delivery": "a/b"}, "X-GitHub-Delivery"),
    ],
)
def test_missing_or_malformed_github_headers_answer_400(
    h: FreshnessHarness, headers: dict[str, str], why: str
) -> None:
    with pytest.raises(InvalidRequest, match=why):
        h.deliver("push", push_payload("a" * 40), headers=headers)
    assert_nothing_recorded(h)
