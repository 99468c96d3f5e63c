"""KeyStore, RateLimitStore and the EventLog's actor: one set of assertions over the
in-memory fakes and the DynamoDB adapters on moto."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from chalicelib.adapters.dynamo_events import DynamoEventLog
from chalicelib.adapters.dynamo_keys import DynamoKeyStore, DynamoRateLimitStore
from chalicelib.domain.identity import ApiKey, Scope
from chalicelib.domain.rate_limits import Bucket
from chalicelib.errors import AlreadyExists
from chalicelib.ports import EventLog, KeyStore, RateLimitStore
from tests.fakes.keys import FakeKeyStore, FakeRateLimitStore
from tests.fakes.stores import FakeEventLog
from tests.integration.conftest import MotoWorld

T0 = 1_700_000_000.0
KEY = ApiKey("abcdefghijkl", "acme", Scope.READ, "d" * 64, T0, name="n", created_by="key:r")


class Stores(NamedTuple):
    keys: KeyStore
    buckets: RateLimitStore
    events: EventLog


@pytest.fixture(params=["fake", "dynamo"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        return Stores(FakeKeyStore(), FakeRateLimitStore(), FakeEventLog())
    world: MotoWorld = request.getfixturevalue("moto_world")
    world.wipe()
    m = world.models
    return Stores(DynamoKeyStore(m), DynamoRateLimitStore(m), DynamoEventLog(m, 3600))


def test_a_key_round_trips_and_its_id_is_taken_once(stores: Stores) -> None:
    stores.keys.create(KEY)
    assert stores.keys.get(KEY.key_id) == KEY
    with pytest.raises(AlreadyExists):
        stores.keys.create(KEY)
    assert list(stores.keys.find("acme")) == [KEY]
    assert list(stores.keys.find("other")) == []


def test_a_revocation_sticks_and_an_unknown_key_stays_unknown(stores: Stores) -> None:
    stores.keys.create(KEY)
    first = stores.keys.revoke(KEY.key_id, T0 + 1, "key:a")
    assert first is not None and first.revoked_at == T0 + 1
    assert stores.keys.revoke(KEY.key_id, T0 + 2, "key:b") == first
    assert stores.keys.revoke("zzzzzzzzzzzz", T0, "key:a") is None
    assert stores.keys.get("zzzzzzzzzzzz") is None


def test_touch_is_throttled_by_its_interval(stores: Stores) -> None:
    stores.keys.create(KEY)
    assert stores.keys.touch(KEY.key_id, T0, 60)
    assert not stores.keys.touch(KEY.key_id, T0 + 59, 60)
    assert stores.keys.touch(KEY.key_id, T0 + 60, 60)
    assert not stores.keys.touch("zzzzzzzzzzzz", T0, 60)


def test_a_bucket_write_needs_the_version_it_was_computed_from(stores: Stores) -> None:
    assert stores.buckets.get("k") is None
    assert stores.buckets.put("k", Bucket(9.0, T0, 1), previous=None, expires_at=T0)
    assert not stores.buckets.put("k", Bucket(8.0, T0, 2), previous=None, expires_at=T0)
    assert not stores.buckets.put("k", Bucket(8.0, T0, 2), previous=5, expires_at=T0)
    assert stores.buckets.put("k", Bucket(8.0, T0, 2), previous=1, expires_at=T0)
    assert stores.buckets.get("k") == Bucket(8.0, T0, 2)


def test_events_keep_their_actor(stores: Stores) -> None:
    stores.events.append("github:a:b", "IndexRequested", {"n": 1}, T0, "key:abcdefghijkl")
    stores.events.append("github:a:b", "IndexStarted", {"n": 2}, T0 + 1)
    newest, oldest = stores.events.list("github:a:b", 10).events
    assert (oldest.actor, newest.actor) == ("key:abcdefghijkl", None)
