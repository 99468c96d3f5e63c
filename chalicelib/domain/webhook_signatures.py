"""GitHub webhook signatures and the secrets that check them (pure; see ADR 8).

GitHub signs the raw request body with HMAC-SHA256 and sends `X-Hub-Signature-256:
sha256=<64 hex>`. The legacy `X-Hub-Signature: sha1=...` is never accepted. The secrets live
in one JSON document (a Secrets Manager secret):

    {"default": "s3cr3t", "repositories": {"github:owner:repo": "other"}}

Each value is a string or a list of strings (several are accepted during a rotation). A
repository listed under `repositories` is checked against its own secrets only; any other
against `default`. Repository keys match case-insensitively, as GitHub's names do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.validation import json_object
from chalicelib.errors import PermanentError, Unauthenticated

SIGNATURE_PREFIX = "sha256="
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_SECRETS_PER_ENTRY = 5


@dataclass(frozen=True)
class WebhookSecrets:
    default: tuple[str, ...] = ()
    repositories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def for_repository(self, repository_id: str | None) -> tuple[str, ...]:
        """The secrets a delivery about `repository_id` may be signed with."""
        if repository_id is not None:
            own = self.repositories.get(repository_id.lower())
            if own is not None:
                return own
        return self.default


def _secret_list(value: object, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if (
        not isinstance(values, list)
        or not 1 <= len(values) <= MAX_SECRETS_PER_ENTRY
        or not all(isinstance(v, str) and v for v in values)
    ):
        raise PermanentError(f"webhook secret {where} must be a non-empty string or list of them")
    return tuple(values)


def parse_webhook_secrets(text: str) -> WebhookSecrets:
    """Read the secret document. Raises PermanentError when it is malformed (never echoes it)."""
    doc = json_object(text, "the webhook secret", PermanentError)
    default = doc.get("default")
    repositories = doc.get("repositories")
    repositories = {} if repositories is None else repositories
    if not isinstance(repositories, dict):
        raise PermanentError("webhook secret `repositories` must map repository ids to secrets")
    return WebhookSecrets(
        default=() if default is None else _secret_list(default, "`default`"),
        repositories={
            str(rid).lower(): _secret_list(v, f"for {rid}") for rid, v in repositories.items()
        },
    )


def parse_signature(header: str | None) -> bytes:
    """The digest from an `X-Hub-Signature-256` header. Raises Unauthenticated."""
    if header is None or not header.strip():
        raise Unauthenticated("missing X-Hub-Signature-256 header")
    algorithm, sep, digest = header.strip().partition("=")
    if not sep or algorithm != SIGNATURE_PREFIX[:-1]:
        raise Unauthenticated("X-Hub-Signature-256 must be sha256=<hex digest>")
    if not _HEX64.match(digest):
        raise Unauthenticated("X-Hub-Signature-256 is not a sha256 hex digest")
    return bytes.fromhex(digest)


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub would send for `body` signed with `secret`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secrets: Sequence[str], body: bytes, digest: bytes) -> bool:
    """True when `digest` is the HMAC of `body` under one of `secrets` (constant time each)."""
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, digest)
    return matched
