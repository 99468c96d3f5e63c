"""DynamoKeyStore and DynamoRateLimitStore: API key records and their token buckets (pynamodb).

AWS resources and IAM actions:
- `{prefix}-keys` (key key_id): dynamodb:PutItem (conditional on a new id), dynamodb:GetItem
  (strongly consistent, once per authenticated request), dynamodb:UpdateItem (revoke, and
  `last_used_at` at most once a minute per key, both conditional), dynamodb:Scan (listing
  keys: one small item per key).
- `{prefix}-rate_limits` (key bucket_id, TTL on `expires_at`): dynamodb:GetItem and one
  conditional dynamodb:PutItem per allowed request.

Only digests are stored; nothing here sees a secret.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import KeyItem, Models, RateLimitItem
from chalicelib.domain.identity import ApiKey, Scope
from chalicelib.domain.rate_limits import Bucket
from chalicelib.errors import AlreadyExists


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _key(item: KeyItem) -> ApiKey:
    return ApiKey(
        key_id=item.key_id,
        tenant=item.tenant,
        scope=Scope.parse(item.scope),
        digest=item.digest,
        created_at=float(item.created_at),
        name=item.name,
        created_by=item.created_by,
        revoked_at=_number(item.revoked_at),
        revoked_by=item.revoked_by,
        last_used_at=_number(item.last_used_at),
    )


class DynamoKeyStore:
    def __init__(self, models: Models) -> None:
        self._model = models.keys

    def create(self, key: ApiKey) -> None:
        m = self._model
        item = m(
            key.key_id,
            tenant=key.tenant,
            scope=key.scope.label,
            digest=key.digest,
            name=key.name,
            created_at=key.created_at,
            created_by=key.created_by,
        )
        try:
            item.save(condition=m.key_id.does_not_exist())
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                raise AlreadyExists(f"API key {key.key_id} exists already") from exc
            raise translate(exc, f"create API key {key.key_id}") from exc

    def get(self, key_id: str) -> ApiKey | None:
        with translated(f"get API key {key_id}"):
            try:
                return _key(self._model.get(key_id, consistent_read=True))
            except self._model.DoesNotExist:
                return None

    def find(self, tenant: str | None = None) -> Sequence[ApiKey]:
        m = self._model
        condition = m.tenant == tenant if tenant is not None else None
        with translated("list API keys"):
            keys = [_key(i) for i in m.scan(filter_condition=condition, consistent_read=True)]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    def revoke(self, key_id: str, now: float, by: str) -> ApiKey | None:
        m = self._model
        item = m(key_id)
        try:
            item.update(
                actions=[m.revoked_at.set(now), m.revoked_by.set(by)],
                condition=m.key_id.exists() & m.revoked_at.does_not_exist(),
            )
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return self.get(key_id)  # unknown (None), or revoked before: unchanged
            raise translate(exc, f"revoke API key {key_id}") from exc
        return _key(item)

    def touch(self, key_id: str, now: float, interval: float) -> bool:
        m = self._model
        stale = m.last_used_at.does_not_exist() | (m.last_used_at <= now - interval)
        try:
            m(key_id).update(actions=[m.last_used_at.set(now)], condition=m.key_id.exists() & stale)
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return False
            raise translate(exc, f"record the use of API key {key_id}") from exc
        return True


class DynamoRateLimitStore:
    def __init__(self, models: Models) -> None:
        self._model = models.rate_limits

    def get(self, bucket_id: str) -> Bucket | None:
        with translated(f"get rate limit {bucket_id}"):
            try:
                item = self._model.get(bucket_id, consistent_read=True)
            except self._model.DoesNotExist:
                return None
        return Bucket(float(item.tokens), float(item.at), int(item.version))

    def put(
        self, bucket_id: str, bucket: Bucket, *, previous: int | None, expires_at: float
    ) -> bool:
        m = self._model
        condition = m.bucket_id.does_not_exist() if previous is None else m.version == previous
        item: RateLimitItem = m(
            bucket_id,
            tokens=bucket.tokens,
            at=bucket.at,
            version=bucket.version,
            expires_at=int(expires_at) + 1,
        )
        try:
            item.save(condition=condition)
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return False
            raise translate(exc, f"update rate limit {bucket_id}") from exc
        return True
