"""Use cases: authenticate a request's API key, and manage keys (create, list, revoke).

A presented key `strata_<id>_<secret>` is checked by reading the record of <id> (one strongly
consistent read, so a revocation takes effect on the next request) and comparing
HMAC-SHA256(pepper, secret) with the stored digest in constant time. The pepper is a Secrets
Manager secret, read at most once per TTL per process. The secret itself is never stored,
logged or returned, except in the answer that creates the key.

Lock-out: the last active admin key cannot be revoked (409); create another admin key first.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from chalicelib.domain.identity import (
    ADMIN_TENANT,
    LAST_USED_INTERVAL_SECONDS,
    ApiKey,
    Caller,
    NewKey,
    Scope,
    bearer_token,
    digest_matches,
    key_digest,
    new_key,
    parse_key,
    validate_key_id,
    validate_key_name,
    validate_tenant,
)
from chalicelib.errors import AlreadyExists, Conflict, NotFound, TransientError, Unauthenticated
from chalicelib.ports import Clock, KeyStore
from chalicelib.services.cached_secret import CachedSecret

log = logging.getLogger(__name__)

_MIN_PEPPER = 32
_NOT_VALID = "the API key is not valid"
# Compared against when the id is unknown, so an unknown id costs the same hash as a known one.
_NO_DIGEST = "0" * 64


class CachedPepper(CachedSecret[bytes]):
    """The digest pepper: the `pepper` field of a JSON secret, re-read after `ttl_seconds`.
    Missing or unusable, every authenticated request answers 503 (nothing can be checked)."""

    def parse(self, document: str) -> bytes:
        return _parse_pepper(document)

    def missing(self, exc: NotFound) -> bytes:
        log.error("API key pepper %s does not exist: no key can be checked", self._name)
        raise TransientError("API keys cannot be checked now") from exc


def _parse_pepper(document: str) -> bytes:
    try:
        value = json.loads(document).get("pepper")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or len(value) < _MIN_PEPPER:
        log.error("the API key pepper secret holds no usable `pepper` string")
        raise TransientError("API keys cannot be checked now")
    return value.encode()


class Authenticator:
    def __init__(
        self,
        *,
        keys: KeyStore,
        pepper: CachedPepper,
        clock: Clock,
        touch_interval: float = LAST_USED_INTERVAL_SECONDS,
    ) -> None:
        self._keys = keys
        self._pepper = pepper
        self._clock = clock
        self._touch_interval = touch_interval

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller an `Authorization: Bearer <key>` header proves. Raises Unauthenticated
        (whose messages never repeat the header) or TransientError."""
        presented = parse_key(bearer_token(authorization))
        record = self._keys.get(presented.key_id)
        stored = record.digest if record is not None else _NO_DIGEST
        matches = digest_matches(self._pepper.get(), presented.secret, stored)
        if record is None or not matches:
            raise Unauthenticated(_NOT_VALID)
        if record.revoked:
            raise Unauthenticated("the API key was revoked")
        now = self._clock.now()
        if record.needs_touch(now, self._touch_interval):
            self._touch(record.key_id, now)
        return record.caller()

    def _touch(self, key_id: str, now: float) -> None:
        """Best effort: a failed bookkeeping write never fails the request."""
        try:
            self._keys.touch(key_id, now, self._touch_interval)
        except Exception:
            log.warning("could not record the use of API key %s", key_id, exc_info=True)


@dataclass(frozen=True)
class CreatedKey:
    """A new key's record, and its token: the only time the secret is seen."""

    key: ApiKey
    token: str = field(repr=False)


class KeyAdmin:
    """Key management for admin callers (and the local stack's start)."""

    def __init__(self, *, keys: KeyStore, pepper: CachedPepper, clock: Clock) -> None:
        self._keys = keys
        self._pepper = pepper
        self._clock = clock

    def create(self, tenant: str, scope: str, name: str | None, *, by: str) -> CreatedKey:
        """A new key of `tenant` with `scope` (read, index, admin)."""
        tenant = validate_tenant(tenant)
        granted = Scope.parse(scope)
        name = validate_key_name(name)
        fresh, record = self._store_new(tenant, granted, name, by)
        log.info("API key %s (%s, %s) created by %s", record.key_id, tenant, granted.label, by)
        return CreatedKey(record, fresh.token)

    def list(self, tenant: str | None) -> list[ApiKey]:
        wanted = validate_tenant(tenant) if tenant else None
        return list(self._keys.find(wanted))

    def revoke(self, key_id: str, by: str) -> ApiKey:
        """Idempotent: revoking a revoked key answers it as it is. Raises NotFound, and
        Conflict for the last active admin key (nobody could manage keys any more)."""
        key_id = validate_key_id(key_id)
        record = self._keys.get(key_id)
        if record is None:
            raise NotFound("no API key has this id")
        if not record.revoked:
            if record.scope is Scope.ADMIN and self._active_admins() <= 1:
                raise Conflict("this is the last active admin key: create another one first")
            record = self._keys.revoke(key_id, self._clock.now(), by) or record
            log.info("API key %s revoked by %s", key_id, by)
        return record

    def adopt(self, token: str, *, name: str, by: str) -> bool:
        """Make `token` an admin key of tenant `admin`: store its record if there is none
        (True). An existing record must match it, be admin and not revoked, else
        Unauthenticated says why (never repeating the token)."""
        presented = parse_key(token)
        record = self._keys.get(presented.key_id)
        if record is None:
            self._store(presented, ADMIN_TENANT, Scope.ADMIN, name, by)
            return True
        if not digest_matches(self._pepper.get(), presented.secret, record.digest):
            raise Unauthenticated(f"key {presented.key_id} exists with another secret")
        if record.revoked:
            raise Unauthenticated(f"key {presented.key_id} was revoked")
        if record.scope is not Scope.ADMIN:
            raise Unauthenticated(f"key {presented.key_id} is not an admin key")
        return False

    def create_admin(self, *, name: str, by: str) -> str:
        """A new admin key of tenant `admin`; its token."""
        fresh, _ = self._store_new(ADMIN_TENANT, Scope.ADMIN, name, by)
        return fresh.token

    def _active_admins(self) -> int:
        return sum(1 for k in self._keys.find() if k.scope is Scope.ADMIN and not k.revoked)

    def _store_new(
        self, tenant: str, scope: Scope, name: str | None, by: str
    ) -> tuple[NewKey, ApiKey]:
        for _ in range(3):  # 62 bits of id: a collision is all but impossible, not an error
            fresh = new_key()
            try:
                return fresh, self._store(fresh, tenant, scope, name, by)
            except AlreadyExists:
                continue
        raise TransientError("could not allocate an API key id")

    def _store(self, key: NewKey, tenant: str, scope: Scope, name: str | None, by: str) -> ApiKey:
        record = ApiKey(
            key_id=key.key_id,
            tenant=tenant,
            scope=scope,
            digest=key_digest(self._pepper.get(), key.secret),
            created_at=self._clock.now(),
            name=name,
            created_by=by,
        )
        self._keys.create(record)
        return record
