"""Who is calling: API keys, their scopes and the caller a request runs as.

A key reads `strata_<key id>_<secret>`: the id (12 lowercase letters and digits) is public
and names the stored record; the secret (43 characters of base64url, 256 bits) is shown once
and stored only as HMAC-SHA256(pepper, secret), where the pepper lives in Secrets Manager.
A fast keyed hash is enough: the secret is random, not a password, so it cannot be guessed
from the digest without the pepper, and a request costs one hash, not a deliberately slow one.

Scopes are ordered: `read` (status, search, chat, graph, events) < `index` (register and
index repositories) < `admin` (manage keys, see every tenant's repositories, have the
server's git token used).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from chalicelib.domain.validation import is_valid_text
from chalicelib.errors import InvalidRequest, NotFound, Unauthenticated

KEY_PREFIX = "strata_"
_KEY_RE = re.compile(r"^strata_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_KEY_ID_RE = re.compile(r"^[a-z0-9]{12}$")
_TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ADMIN_TENANT = "admin"
MAX_KEY_NAME = 100
# Far above a key's 63 characters: a longer header is refused before any parsing.
MAX_AUTHORIZATION = 256
# `last_used_at` is written at most this often per key (a conditional write, not per request).
LAST_USED_INTERVAL_SECONDS = 60.0


class Scope(enum.IntEnum):
    READ = 1
    INDEX = 2
    ADMIN = 3

    @classmethod
    def parse(cls, raw: object) -> Scope:
        if isinstance(raw, str) and raw.upper() in cls.__members__:
            return cls[raw.upper()]
        raise InvalidRequest("scope must be one of read, index, admin")

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Caller:
    """The authenticated identity a request runs as."""

    key_id: str
    tenant: str
    scope: Scope

    @property
    def actor(self) -> str:
        """What the audit trail records: the key id, never the secret."""
        return f"key:{self.key_id}"

    def allows(self, needed: Scope) -> bool:
        return self.scope >= needed

    @property
    def is_admin(self) -> bool:
        return self.scope is Scope.ADMIN


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        return f"{KEY_PREFIX}{self.key_id}_{self.secret}"


@dataclass(frozen=True)
class ApiKey:
    """A stored key: everything but the secret, of which only the digest is kept."""

    key_id: str
    tenant: str
    scope: Scope
    digest: str
    created_at: float
    name: str | None = None
    created_by: str | None = None
    revoked_at: float | None = None
    revoked_by: str | None = None
    last_used_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def caller(self) -> Caller:
        return Caller(self.key_id, self.tenant, self.scope)

    def needs_touch(self, now: float, interval: float = LAST_USED_INTERVAL_SECONDS) -> bool:
        """Whether `last_used_at` is old enough to be written again."""
        return self.last_used_at is None or now - self.last_used_at >= interval


def new_key() -> NewKey:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    key_id = "".join(secrets.choice(alphabet) for _ in range(12))
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return NewKey(key_id, secret)


def parse_key(token: str) -> NewKey:
    """Split a presented key into id and secret. Raises Unauthenticated (never echoes it)."""
    match = _KEY_RE.fullmatch(token)
    if match is None:
        raise Unauthenticated("the API key is malformed")
    return NewKey(match.group(1), match.group(2))


def key_digest(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def digest_matches(pepper: bytes, secret: str, stored: str) -> bool:
    return hmac.compare_digest(key_digest(pepper, secret), stored)


def validate_key_id(raw: object) -> str:
    """A key id from a path; one that cannot exist is simply not found."""
    if not isinstance(raw, str) or not _KEY_ID_RE.fullmatch(raw):
        raise NotFound("no API key has this id")
    return raw


def validate_key_name(raw: object) -> str | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, str)
        or len(raw) > MAX_KEY_NAME
        or not is_valid_text(raw)
        or any(ord(c) < 32 or ord(c) == 127 for c in raw)  # shown in terminals
    ):
        raise InvalidRequest(f"name must be one line of at most {MAX_KEY_NAME} characters")
    return raw.strip() or None


def validate_tenant(raw: object) -> str:
    if not isinstance(raw, str) or not _TENANT_RE.fullmatch(raw):
        raise InvalidRequest("tenant must be 1-63 lowercase letters, digits, '_' or '-'")
    return raw


def bearer_token(header: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header. Raises Unauthenticated."""
    if not header:
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    if len(header) > MAX_AUTHORIZATION:
        raise Unauthenticated("the API key is malformed")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    return value.strip()
