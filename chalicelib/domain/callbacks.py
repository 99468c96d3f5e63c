"""Callbacks (`notifyUrl` on POST /repositories/index): where they may go, how they are
signed, when a failed one is tried again. Pure: adapters/http_callbacks.py resolves names
and connects; services/callbacks.py decides with these functions.

Where: the same rules as git remotes (domain/remote_policy.py). `https` only; no credentials
in the URL; a host name on the allow-list when one is configured (`STRATA_CALLBACK_HOSTS`,
entries as in `STRATA_GIT_HOSTS`; empty: any name); every address the name resolves to
public (no loopback, private, link-local, shared, reserved... ranges), checked when the
request names it and again on the address each delivery really connects to (DNS rebinding).
An operator may allow loopback and private addresses, and plain `http` with them
(`STRATA_CALLBACK_PRIVATE`: the local stack, tests); link-local (the cloud metadata endpoint
169.254.169.254), multicast and unspecified addresses stay refused even then.

Signature: like GitHub's webhooks, `X-Strata-Signature-256: sha256=<hex>`, HMAC-SHA256 of
the raw body under the secret the client gave with the URL (`notifySecret`). The body names
the event (`id`, the same id as `GET /repositories/{id}/events`) and when it was sent
(`sentAt`, also in `X-Strata-Timestamp`), so the signature covers both: a receiver verifies
the signature, refuses a stale `sentAt` and drops an event id it has seen.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from chalicelib.domain.events import Event, EventType
from chalicelib.domain.remote_policy import address_is_public, host_allowed, numeric_host
from chalicelib.domain.validation import is_valid_text
from chalicelib.errors import InvalidRequest

MAX_URL = 2048
MIN_SECRET = 16
MAX_SECRET = 256
SIGNATURE_HEADER = "X-Strata-Signature-256"
EVENT_HEADER = "X-Strata-Event"
EVENT_ID_HEADER = "X-Strata-Event-Id"
DELIVERY_HEADER = "X-Strata-Delivery"
TIMESTAMP_HEADER = "X-Strata-Timestamp"
# What a callback receives: the end of each index run.
DELIVERED_EVENTS = frozenset({EventType.GENERATION_PUBLISHED, EventType.INDEX_FAILED})
MAX_DELAY_SECONDS = 900  # SQS's longest message delay
REFUSED_HOST = "notifyUrl names a host callbacks may not go to"


@dataclass(frozen=True)
class CallbackRules:
    """`hosts`: the allow-list (empty: any host name); `allow_private`: loopback and private
    addresses, and http, are allowed (an operator's choice, never the default)."""

    hosts: tuple[str, ...] = ()
    allow_private: bool = False


@dataclass(frozen=True)
class CallbackTarget:
    url: str
    scheme: str
    host: str  # lowercased, without brackets
    port: int


def parse_notify_url(raw: object, rules: CallbackRules) -> CallbackTarget:
    """The target of a notifyUrl, or InvalidRequest saying what is wrong (never resolving:
    the service checks the addresses the host resolves to with `addresses_allowed`)."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_URL or not is_valid_text(raw):
        raise InvalidRequest(f"notifyUrl must be an https URL of at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 for c in raw):
        raise InvalidRequest("notifyUrl must not contain spaces or control characters")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and rules.allow_private):
        raise InvalidRequest("notifyUrl must be an https URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidRequest("notifyUrl must not carry credentials")
    if parts.fragment:
        raise InvalidRequest("notifyUrl must not have a fragment")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidRequest("notifyUrl has an invalid port") from exc
    host = (parts.hostname or "").lower().rstrip(".")
    _check_host(host, port, rules)
    return CallbackTarget(raw, scheme, host, port)


def _check_host(host: str, port: int, rules: CallbackRules) -> None:
    if not host:
        raise InvalidRequest("notifyUrl must name a host")
    address = numeric_host(host)
    if address is not None:
        if not address_allowed(address, rules):
            raise InvalidRequest(REFUSED_HOST)
    elif rules.hosts and not host_allowed(host, port, rules.hosts):
        raise InvalidRequest(f"{REFUSED_HOST} (not on STRATA_CALLBACK_HOSTS)")


def address_allowed(address: str, rules: CallbackRules) -> bool:
    """Whether a delivery may connect to `address`."""
    if address_is_public(address):
        return True
    if not rules.allow_private:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return False  # the metadata endpoint is no receiver, whatever the operator allows
    return ip.is_loopback or ip.is_private


def addresses_allowed(addresses: Iterable[str], rules: CallbackRules) -> bool:
    """All of them allowed (one refused address refuses the name), and at least one."""
    found = list(addresses)
    return bool(found) and all(address_allowed(a, rules) for a in found)


def validate_secret(raw: object) -> str:
    if (
        not isinstance(raw, str)
        or not MIN_SECRET <= len(raw) <= MAX_SECRET
        or not is_valid_text(raw)
        or any(ord(c) < 32 for c in raw)
    ):
        raise InvalidRequest(
            f"notifySecret must be {MIN_SECRET} to {MAX_SECRET} printable characters"
        )
    return raw


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, body), as GitHub's X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver checks (constant time)."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


def callback_body(event: Mapping[str, object], sent_at: float) -> bytes:
    """The JSON a receiver gets: the event as the events API shows it, plus `sentAt`."""
    return json.dumps({**event, "sentAt": int(sent_at)}, separators=(",", ":")).encode()


def callback_headers(
    secret: str, body: bytes, *, event: Mapping[str, object], delivery_id: str, sent_at: float
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Strata-Callbacks/1",
        EVENT_HEADER: str(event.get("type")),
        EVENT_ID_HEADER: str(event.get("id")),
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(int(sent_at)),
        SIGNATURE_HEADER: signature(secret, body),
    }


def event_json(event: Event) -> dict[str, object]:
    """An event as the events API and the live feed show it, with its repository."""
    at = datetime.fromtimestamp(event.at, UTC).isoformat(timespec="milliseconds")
    return {
        "id": event.key,
        "type": event.type,
        "repositoryId": event.repository_id,
        "at": at.replace("+00:00", "Z"),
        "actor": event.actor,
        "data": dict(event.data),
    }


def retry_delay(attempt: int, base_seconds: int) -> int:
    """The delay before attempt `attempt + 1`: base, then 4x each time, at most 15 min."""
    return int(min(MAX_DELAY_SECONDS, base_seconds * 4 ** max(0, attempt - 1)))


def delivered(success_status: int) -> bool:
    """A 2xx answer is a delivery; anything else (3xx included: never followed) is retried."""
    return 200 <= success_status < 300
