"""In-memory KeyStore and RateLimitStore, held to the DynamoDB adapters' behaviour by
tests/contract/test_key_contracts.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from chalicelib.domain.identity import ApiKey
from chalicelib.domain.rate_limits import Bucket
from chalicelib.errors import AlreadyExists


class FakeKeyStore:
    def __init__(self) -> None:
        self.items: dict[str, ApiKey] = {}
        self.touches = 0  # writes of last_used_at that happened
        self.touch_calls = 0  # conditional writes attempted (each costs a write)

    def create(self, key: ApiKey) -> None:
        if key.key_id in self.items:
            raise AlreadyExists(f"API key {key.key_id} exists already")
        self.items[key.key_id] = key

    def get(self, key_id: str) -> ApiKey | None:
        return self.items.get(key_id)

    def find(self, tenant: str | None = None) -> Sequence[ApiKey]:
        keys = [k for k in self.items.values() if tenant is None or k.tenant == tenant]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    def revoke(self, key_id: str, now: float, by: str) -> ApiKey | None:
        key = self.items.get(key_id)
        if key is None or key.revoked:
            return key
        self.items[key_id] = replace(key, revoked_at=now, revoked_by=by)
        return self.items[key_id]

    def touch(self, key_id: str, now: float, interval: float) -> bool:
        self.touch_calls += 1
        key = self.items.get(key_id)
        if key is None or (key.last_used_at is not None and key.last_used_at > now - interval):
            return False
        self.items[key_id] = replace(key, last_used_at=now)
        self.touches += 1
        return True


class FakeRateLimitStore:
    def __init__(self) -> None:
        self.items: dict[str, tuple[Bucket, float]] = {}
        self.writes = 0
        self.lose_next = 0  # the next n puts lose a race (another writer got there first)

    def get(self, bucket_id: str) -> Bucket | None:
        stored = self.items.get(bucket_id)
        return stored[0] if stored else None

    def put(
        self, bucket_id: str, bucket: Bucket, *, previous: int | None, expires_at: float
    ) -> bool:
        if self.lose_next:
            self.lose_next -= 1
            return False
        stored = self.get(bucket_id)
        if (stored.version if stored else None) != previous:
            return False
        self.items[bucket_id] = (bucket, expires_at)
        self.writes += 1
        return True
