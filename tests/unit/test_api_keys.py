"""API keys as use cases over in-memory fakes: authenticate, manage, rate-limit."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from chalicelib.api import views
from chalicelib.domain.identity import Scope, key_digest, parse_key
from chalicelib.domain.rate_limits import RatePolicy
from chalicelib.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    TransientError,
    Unauthenticated,
)
from chalicelib.services.keys import Authenticator, CachedPepper, KeyAdmin
from chalicelib.services.rate_limits import RateLimiter
from tests.fakes.aws import FakeClock
from tests.fakes.keys import FakeKeyStore, FakeRateLimitStore
from tests.fakes.stores import FakeSecretStore

PEPPER_NAME = "t/api-keys"
PEPPER = "p" * 64


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.secrets = FakeSecretStore({PEPPER_NAME: json.dumps({"pepper": PEPPER})})
        self.pepper = CachedPepper(self.secrets, PEPPER_NAME, self.clock, ttl_seconds=300)
        self.keys = FakeKeyStore()
        self.admin = KeyAdmin(keys=self.keys, pepper=self.pepper, clock=self.clock)
        self.auth = Authenticator(keys=self.keys, pepper=self.pepper, clock=self.clock)

    def make(self, scope: str = "read", tenant: str = "acme") -> str:
        return self.admin.create(tenant, scope, None, by="key:root").token


@pytest.fixture
def world() -> World:
    return World()


def test_a_created_key_authenticates_as_its_tenant_and_scope(world: World) -> None:
    created = world.admin.create("acme", "index", "ci", by="key:r")
    caller = world.auth.authenticate(f"Bearer {created.token}")
    assert (caller.key_id, caller.tenant, caller.scope) == (created.key.key_id, "acme", Scope.INDEX)
    assert created.key.name == "ci" and created.key.created_by == "key:r"


def test_only_the_digest_is_stored(world: World) -> None:
    key = parse_key(world.make())
    [stored] = world.keys.items.values()
    assert stored.digest == key_digest(PEPPER.encode(), key.secret)
    assert key.secret not in repr(stored)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: "strata_zzzzzzzzzzzz_" + t[-43:],  # unknown id
        lambda t: t[:-2],  # malformed
        lambda t: "",  # missing
    ],
)
def test_a_wrong_unknown_or_missing_key_is_unauthenticated(
    world: World, mangle: Callable[[str], str]
) -> None:
    token = world.make()
    bad = mangle(token)
    with pytest.raises(Unauthenticated) as raised:
        world.auth.authenticate(f"Bearer {bad}" if bad else None)
    assert token[-43:] not in raised.value.message


def test_a_revoked_key_is_unauthenticated_at_once(world: World) -> None:
    world.make("admin", "admin")  # so that the read key is not the last admin
    token = world.make()
    world.auth.authenticate(f"Bearer {token}")
    world.admin.revoke(parse_key(token).key_id, by="key:root")
    with pytest.raises(Unauthenticated, match="revoked"):
        world.auth.authenticate(f"Bearer {token}")


def test_last_used_at_is_written_at_most_once_a_minute(world: World) -> None:
    token = world.make()
    for _ in range(5):
        world.auth.authenticate(f"Bearer {token}")
        world.clock.advance(10)
    assert world.keys.touches == 1  # at t, not at t+10..t+40
    assert world.keys.touch_calls == 1  # not even a refused conditional write per request
    world.clock.advance(20)  # t+60
    world.auth.authenticate(f"Bearer {token}")
    assert world.keys.touches == 2
    [stored] = world.keys.items.values()
    assert stored.last_used_at == world.clock.now()


def test_the_pepper_is_read_once_per_ttl(world: World) -> None:
    token = world.make()
    for _ in range(3):
        world.auth.authenticate(f"Bearer {token}")
    assert world.secrets.reads == 1
    world.clock.advance(301)
    world.auth.authenticate(f"Bearer {token}")
    assert world.secrets.reads == 2


@pytest.mark.parametrize("document", [None, "{}", '{"pepper": "short"}', "not json", "[1]"])
def test_a_missing_or_unusable_pepper_is_a_transient_failure(document: str | None) -> None:
    secrets = FakeSecretStore({} if document is None else {PEPPER_NAME: document})
    pepper = CachedPepper(secrets, PEPPER_NAME, FakeClock(), ttl_seconds=300)
    with pytest.raises(TransientError, match="cannot be checked"):
        pepper.get()


def test_listing_shows_no_secret_or_digest_and_filters_by_tenant(world: World) -> None:
    tokens = [world.make(tenant="acme"), world.make(tenant="acme"), world.make(tenant="zeta")]
    assert len(world.admin.list("acme")) == 2
    everyone = world.admin.list(None)
    assert {k.tenant for k in everyone} == {"acme", "zeta"}
    text = json.dumps([views.key(k) for k in everyone])  # what the route answers
    assert "digest" not in text and everyone[0].digest not in text
    for token in tokens:
        assert parse_key(token).secret not in text


@pytest.mark.parametrize(
    ("tenant", "scope", "name", "message"),
    [
        ("", "read", None, "tenant must be"),
        ("Acme Corp", "read", None, "tenant must be"),
        ("acme", "root", None, "scope must be"),
        ("acme", "read", "two\nlines", "name must be"),
        ("acme", "read", "x" * 101, "name must be"),
    ],
)
def test_a_bad_create_request_is_invalid(
    world: World, tenant: str, scope: str, name: str | None, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        world.admin.create(tenant, scope, name, by="key:root")
    assert not world.keys.items


def test_revoking_is_idempotent_and_keeps_the_first_revocation(world: World) -> None:
    world.make("admin", "admin")
    key_id = parse_key(world.make()).key_id
    first = world.admin.revoke(key_id, by="key:a")
    world.clock.advance(5)
    again = world.admin.revoke(key_id, by="key:b")
    assert first == again
    assert first.revoked_by == "key:a"
    with pytest.raises(NotFound, match="no API key"):
        world.admin.revoke("abcdefghijkl", by="key:a")


def test_the_last_active_admin_key_cannot_be_revoked(world: World) -> None:
    first = parse_key(world.make("admin", "admin")).key_id
    second = parse_key(world.make("admin", "admin")).key_id
    world.admin.revoke(first, by=f"key:{second}")
    with pytest.raises(Conflict, match="last active admin key"):
        world.admin.revoke(second, by=f"key:{second}")
    assert world.keys.items[second].revoked_at is None


def test_adopting_a_key_creates_its_record_once_and_refuses_a_mismatch(world: World) -> None:
    token = "strata_abcdefghijkl_" + "S" * 43
    assert world.admin.adopt(token, name="local", by="local")
    assert not world.admin.adopt(token, name="local", by="local")
    assert world.auth.authenticate(f"Bearer {token}").scope is Scope.ADMIN
    with pytest.raises(Unauthenticated, match="another secret"):
        world.admin.adopt("strata_abcdefghijkl_" + "T" * 43, name="local", by="local")
    read = world.make()
    with pytest.raises(Unauthenticated, match="not an admin key"):
        world.admin.adopt(read, name="local", by="local")


# --- rate limits ---------------------------------------------------------------------


def limiter(
    store: FakeRateLimitStore, clock: FakeClock, rate: float = 1.0, burst: int = 3
) -> RateLimiter:
    return RateLimiter(buckets=store, clock=clock, policy=RatePolicy(rate, burst))


def test_the_burst_is_allowed_then_refused_with_retry_after() -> None:
    store, clock = FakeRateLimitStore(), FakeClock()
    limits = limiter(store, clock, rate=0.5)
    for _ in range(3):
        limits.take("k1")
    with pytest.raises(RateLimited, match="too many requests") as raised:
        limits.take("k1")
    assert raised.value.retry_after == 2
    assert store.writes == 3  # the refusal wrote nothing
    clock.advance(2)
    limits.take("k1")


def test_a_lost_race_is_retried_once_from_a_fresh_read() -> None:
    store, clock = FakeRateLimitStore(), FakeClock()
    store.lose_next = 1
    limiter(store, clock).take("k1")
    assert store.writes == 1
    store.lose_next = 2
    with pytest.raises(RateLimited) as raised:
        limiter(store, clock).take("k1")
    assert raised.value.retry_after == 1


def test_an_idle_bucket_expires_when_it_would_be_full() -> None:
    store, clock = FakeRateLimitStore(), FakeClock()
    limiter(store, clock, rate=2.0, burst=10).take("k1")
    bucket, expires_at = store.items["k1"]
    assert expires_at == pytest.approx(clock.now() + 0.5)
    assert bucket.tokens == 9


def test_a_zero_rate_writes_nothing() -> None:
    store, clock = FakeRateLimitStore(), FakeClock()
    for _ in range(100):
        limiter(store, clock, rate=0.0).take("k1")
    assert store.writes == 0
