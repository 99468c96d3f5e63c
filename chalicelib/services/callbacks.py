"""Use cases of callbacks (ADR 24): check and register a `notifyUrl` with its secret, and
deliver one event to it (the callback worker).

Registration: the URL must pass domain/callbacks.py's rules, and its host must resolve only
to allowed addresses, before anything is indexed (a refusal is a 400). The secret is sealed
with the token vault (KMS) at once; only the delivering worker opens it, to sign.

Delivery: one POST per DeliverCallback message, signed, to the address just checked. A 2xx
ends it. Anything else (an error status, a timeout, a refused connection) sends the message
again with a growing delay (SQS DelaySeconds: base, x4, ... at most 15 min) until
`attempts` were made; the last failure fails the record, which SQS moves to the callback
DLQ (maxReceiveCount 1). A registration that vanished, or a host that now resolves to a
refused address, drops the message: a retry cannot help. The index never waits for any of
this: callbacks run on their own queue, after the event was recorded.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field, replace

from chalicelib.domain.callbacks import (
    REFUSED_HOST,
    CallbackRules,
    CallbackTarget,
    addresses_allowed,
    callback_body,
    callback_headers,
    delivered,
    parse_notify_url,
    retry_delay,
    validate_secret,
)
from chalicelib.domain.live import CallbackRegistration
from chalicelib.domain.messages import DeliverCallback
from chalicelib.domain.remote_policy import numeric_host
from chalicelib.errors import InvalidRequest, TransientError
from chalicelib.ports import CallbackTransport, Clock, ListenerStore, TokenVault, WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallbackConfig:
    rules: CallbackRules = field(default_factory=CallbackRules)
    ttl_seconds: float = 7 * 24 * 3600
    attempts: int = 6
    retry_seconds: int = 10


@dataclass(frozen=True)
class NotifyRequest:
    """A checked notifyUrl and its secret (never shown: repr hides it)."""

    target: CallbackTarget
    secret: str = field(repr=False)


class CallbackFailed(TransientError):
    """Every attempt failed: the record fails and SQS moves it to the callback DLQ."""

    code = "callback_failed"


def _addresses(transport: CallbackTransport, target: CallbackTarget) -> list[str]:
    address = numeric_host(target.host)
    return [address] if address is not None else transport.resolve(target.host, target.port)


class CallbackRegistrar:
    def __init__(
        self,
        *,
        listeners: ListenerStore,
        vault: TokenVault,
        transport: CallbackTransport,
        clock: Clock,
        config: CallbackConfig,
    ) -> None:
        self._listeners = listeners
        self._vault = vault
        self._transport = transport
        self._clock = clock
        self._c = config

    def check(self, url: object, secret: object) -> NotifyRequest | None:
        """The notifyUrl and notifySecret of a request (both or neither), checked; None
        when neither was given. Raises InvalidRequest."""
        if url is None and secret is None:
            return None
        if url is None or secret is None:
            raise InvalidRequest("notifyUrl and notifySecret go together: send both or neither")
        target = parse_notify_url(url, self._c.rules)
        checked_secret = validate_secret(secret)
        addresses = _addresses(self._transport, target)
        if not addresses:
            raise InvalidRequest("notifyUrl's host does not resolve")
        if not addresses_allowed(addresses, self._c.rules):
            raise InvalidRequest(f"{REFUSED_HOST} (it resolves to a refused address)")
        return NotifyRequest(target, checked_secret)

    def register(self, repository_id: str, tenant: str, notify: NotifyRequest) -> None:
        """The tenant's callback of the repository from now on (replacing an earlier one)."""
        now = self._clock.now()
        registration = CallbackRegistration(
            repository_id, tenant, notify.target.url, self._vault.seal(notify.secret), now
        )
        self._listeners.register_callback(registration, now + self._c.ttl_seconds)


class CallbackSender:
    def __init__(
        self,
        *,
        listeners: ListenerStore,
        vault: TokenVault,
        transport: CallbackTransport,
        queue: WorkQueue,
        clock: Clock,
        config: CallbackConfig,
    ) -> None:
        self._listeners = listeners
        self._vault = vault
        self._transport = transport
        self._queue = queue
        self._clock = clock
        self._c = config

    def deliver(self, message: DeliverCallback) -> None:
        registration = self._listeners.callback(message.repository_id, message.tenant)
        if registration is None:
            log.info("no callback of %s for %s any more", message.repository_id, message.tenant)
            return
        try:
            target = parse_notify_url(registration.url, self._c.rules)
        except InvalidRequest as exc:
            log.warning("dropping a callback the rules now refuse: %s", exc.message)
            return
        addresses = _addresses(self._transport, target)
        if not addresses_allowed(addresses, self._c.rules):
            log.warning("dropping a callback to %s: it resolves to a refused address", target.host)
            return
        failure = self._post(target, addresses[0], registration, message)
        if failure is None:
            return
        if message.attempt >= self._c.attempts:
            raise CallbackFailed(
                f"callback to {target.host} failed {message.attempt} times: {failure}"
            )
        delay = retry_delay(message.attempt, self._c.retry_seconds)
        log.info("callback to %s failed (%s); retry in %d s", target.host, failure, delay)
        self._queue.send(replace(message, attempt=message.attempt + 1), delay_seconds=delay)

    def _post(
        self,
        target: CallbackTarget,
        address: str,
        registration: CallbackRegistration,
        message: DeliverCallback,
    ) -> str | None:
        """None when delivered; otherwise why not."""
        event = json.loads(message.event)
        now = self._clock.now()
        body = callback_body(event, now)
        secret = self._vault.open(registration.sealed_secret)
        headers = callback_headers(
            secret, body, event=event, delivery_id=str(uuid.uuid4()), sent_at=now
        )
        try:
            status = self._transport.post(target, address, body, headers)
        except TransientError as exc:
            return exc.message
        return None if delivered(status) else f"HTTP {status}"
