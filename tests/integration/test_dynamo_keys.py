"""API keys and their rate limits on moto: the keys table, the pepper secret, the buckets."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamo_keys import DynamoKeyStore, DynamoRateLimitStore
from chalicelib.adapters.dynamo_models import KeyItem, RateLimitItem
from chalicelib.adapters.secretsmanager_secret_store import SecretsManagerSecretStore
from chalicelib.domain.identity import ApiKey, Scope, parse_key
from chalicelib.domain.rate_limits import Bucket, RatePolicy
from chalicelib.errors import AlreadyExists, RateLimited
from chalicelib.local.provision import load_resources
from chalicelib.services.keys import Authenticator, CachedPepper, KeyAdmin
from chalicelib.services.rate_limits import RateLimiter
from tests.fakes.aws import FakeClock
from tests.integration.conftest import MotoWorld

T0 = 1_700_000_000.0


def by_name(entries: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(entries, key=lambda e: e["AttributeName"])


def last_used(store: DynamoKeyStore, key_id: str = "abcdefghijkl") -> float | None:
    key = store.get(key_id)
    assert key is not None
    return key.last_used_at


@pytest.mark.parametrize(("logical", "model"), [("keys", KeyItem), ("rate_limits", RateLimitItem)])
def test_model_keys_and_ttl_match_the_resources_file(logical: str, model: Any) -> None:
    spec = load_resources()["tables"][logical]
    schema = model._get_schema()
    assert by_name(schema["key_schema"]) == by_name(spec["KeySchema"])
    assert by_name(schema["attribute_definitions"]) == by_name(spec["AttributeDefinitions"])
    ttl = spec.get("TimeToLiveSpecification")
    if ttl:
        assert ttl["AttributeName"] in model.get_attributes()


def raw_item(world: MotoWorld, table: str, key: str, value: str) -> dict[str, Any]:
    response = world.client.get_item(
        TableName=world.settings.names.tables[table], Key={key: {"S": value}}
    )
    item: dict[str, Any] = response.get("Item", {})
    return item


def record(key_id: str = "abcdefghijkl", **changes: Any) -> ApiKey:
    fields: dict[str, Any] = {
        "key_id": key_id,
        "tenant": "acme",
        "scope": Scope.INDEX,
        "digest": "d" * 64,
        "created_at": T0,
        "name": "ci",
        "created_by": "key:root",
        **changes,
    }
    return ApiKey(**fields)


def test_a_key_is_created_once_and_read_back(world: MotoWorld) -> None:
    store = DynamoKeyStore(world.models)
    store.create(record())
    assert store.get("abcdefghijkl") == record()
    assert store.get("zzzzzzzzzzzz") is None
    with pytest.raises(AlreadyExists, match="abcdefghijkl"):
        store.create(record(tenant="other"))
    assert store.get("abcdefghijkl") == record()  # the first one is untouched


def test_keys_are_listed_oldest_first_and_by_tenant(world: MotoWorld) -> None:
    store = DynamoKeyStore(world.models)
    store.create(record("bbbbbbbbbbbb", created_at=T0 + 1))
    store.create(record("aaaaaaaaaaaa", created_at=T0 + 2, tenant="zeta"))
    store.create(record("cccccccccccc", created_at=T0))
    assert [k.key_id for k in store.find()] == ["cccccccccccc", "bbbbbbbbbbbb", "aaaaaaaaaaaa"]
    assert [k.key_id for k in store.find("zeta")] == ["aaaaaaaaaaaa"]
    assert store.find("nobody") == []


def test_revoking_is_conditional_and_idempotent(world: MotoWorld) -> None:
    store = DynamoKeyStore(world.models)
    store.create(record())
    revoked = store.revoke("abcdefghijkl", T0 + 5, "key:a")
    assert revoked is not None and (revoked.revoked_at, revoked.revoked_by) == (T0 + 5, "key:a")
    again = store.revoke("abcdefghijkl", T0 + 9, "key:b")
    assert again == revoked
    assert store.revoke("zzzzzzzzzzzz", T0, "key:a") is None
    assert raw_item(world, "keys", "key_id", "zzzzzzzzzzzz") == {}  # no ghost item


def test_last_used_at_is_written_only_when_a_minute_old(world: MotoWorld) -> None:
    store = DynamoKeyStore(world.models)
    store.create(record())
    assert store.touch("abcdefghijkl", T0 + 10, 60)
    assert not store.touch("abcdefghijkl", T0 + 69, 60)
    assert last_used(store) == T0 + 10
    assert store.touch("abcdefghijkl", T0 + 70, 60)
    assert last_used(store) == T0 + 70
    assert not store.touch("zzzzzzzzzzzz", T0, 60)
    assert raw_item(world, "keys", "key_id", "zzzzzzzzzzzz") == {}


def keys_on_moto(world: MotoWorld, clock: FakeClock) -> tuple[KeyAdmin, Authenticator]:
    secrets = boto3.client("secretsmanager", region_name=world.settings.region)
    pepper = CachedPepper(
        SecretsManagerSecretStore(secrets), world.settings.names.api_key_pepper, clock, 300
    )
    store = DynamoKeyStore(world.models)
    return (
        KeyAdmin(keys=store, pepper=pepper, clock=clock),
        Authenticator(keys=store, pepper=pepper, clock=clock),
    )


def test_provision_makes_a_random_pepper_and_keys_work_with_it(world: MotoWorld) -> None:
    secrets = boto3.client("secretsmanager", region_name=world.settings.region)
    name = world.settings.names.api_key_pepper
    assert name == "shared/api-keys"
    pepper = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])["pepper"]
    assert len(pepper) == 64 and pepper.isalnum()
    clock = FakeClock(T0)
    admin, auth = keys_on_moto(world, clock)
    token = admin.create("acme", "read", None, by="key:root").token
    caller = auth.authenticate(f"Bearer {token}")
    assert (caller.tenant, caller.scope) == ("acme", Scope.READ)
    item = raw_item(world, "keys", "key_id", caller.key_id)
    secret = parse_key(token).secret
    assert secret not in json.dumps(item)  # the digest only
    assert set(item) >= {"key_id", "tenant", "scope", "digest", "created_at", "last_used_at"}


def test_authentication_writes_last_used_at_once_a_minute_on_moto(world: MotoWorld) -> None:
    clock = FakeClock(T0)
    admin, auth = keys_on_moto(world, clock)
    token = admin.create("acme", "read", None, by="key:root").token
    key_id = parse_key(token).key_id
    seen: list[float] = []
    for _ in range(4):
        auth.authenticate(f"Bearer {token}")
        seen.append(float(raw_item(world, "keys", "key_id", key_id)["last_used_at"]["N"]))
        clock.advance(25)
    assert seen == [T0, T0, T0, T0 + 75]


# --- rate limits -----------------------------------------------------------------------


def limiter(world: MotoWorld, clock: FakeClock, rate: float, burst: int) -> RateLimiter:
    store = DynamoRateLimitStore(world.models)
    return RateLimiter(buckets=store, clock=clock, policy=RatePolicy(rate, burst))


def test_a_burst_then_429_with_retry_after_then_a_refill(world: MotoWorld) -> None:
    clock = FakeClock(T0)
    limits = limiter(world, clock, rate=0.25, burst=5)
    for _ in range(5):
        limits.take("key-a")
    with pytest.raises(RateLimited) as raised:
        limits.take("key-a")
    assert raised.value.retry_after == 4  # one token every 4 s
    clock.advance(3.9)
    with pytest.raises(RateLimited) as raised:
        limits.take("key-a")
    assert raised.value.retry_after == 1
    clock.advance(0.1)
    limits.take("key-a")
    clock.advance(3600)  # long idle: full again, but never more than the burst
    for _ in range(5):
        limits.take("key-a")
    with pytest.raises(RateLimited):
        limits.take("key-a")


def test_two_keys_have_independent_buckets(world: MotoWorld) -> None:
    clock = FakeClock(T0)
    limits = limiter(world, clock, rate=1.0, burst=2)
    limits.take("key-a")
    limits.take("key-a")
    with pytest.raises(RateLimited):
        limits.take("key-a")
    limits.take("key-b")
    limits.take("key-b")
    item = raw_item(world, "rate_limits", "bucket_id", "key-b")
    assert item["version"] == {"N": "2"}
    assert int(item["expires_at"]["N"]) == int(T0 + 2) + 1  # full again after 2 s


def test_a_bucket_write_is_conditional_on_the_version_read(world: MotoWorld) -> None:
    store = DynamoRateLimitStore(world.models)
    assert store.put("k", Bucket(4.0, T0, 1), previous=None, expires_at=T0 + 1)
    assert not store.put("k", Bucket(3.0, T0, 1), previous=None, expires_at=T0 + 1)
    assert not store.put("k", Bucket(3.0, T0, 2), previous=0, expires_at=T0 + 1)
    assert store.put("k", Bucket(3.0, T0, 2), previous=1, expires_at=T0 + 1)
    assert store.get("k") == Bucket(3.0, T0, 2)
    assert store.get("absent") is None
