"""Use case: a GitHub webhook delivery arrives (POST /webhooks/github).

Only validate, record and enqueue: the signature is checked over the raw body, the delivery
id is claimed once (a redelivery answers `duplicate`), and a push to a tracked branch
requests an index of its `after` SHA, so GitHub gets its answer well within its 10 s.
Ordering and replays: deliveries carry no sequence and the signature does not cover the
delivery id, so a push that may lie behind what the index follows (an old push sent again,
a late delivery) is checked first (push_replays): unless the branch head really is its
`after`, it is answered `ignored`/`stale` and the index stays where it is. An ordinary push,
continuing from the newest SHA, touches no git at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib import observability
from chalicelib.domain.events import EventType
from chalicelib.domain.models import Repository
from chalicelib.domain.webhook_signatures import (
    WebhookSecrets,
    parse_signature,
    parse_webhook_secrets,
    signature_matches,
)
from chalicelib.domain.webhooks import (
    DeliveryHeaders,
    Push,
    PushAction,
    decide_push,
    parse_headers,
    parse_payload,
    parse_push,
    repository_hint,
)
from chalicelib.errors import NotFound, Unauthenticated
from chalicelib.ports import Clock, DeliveryLog, EventLog, RepoStore
from chalicelib.services.cached_secret import CachedSecret
from chalicelib.services.events import append_event
from chalicelib.services.index_requests import IndexRequests
from chalicelib.services.push_replays import PushReplays

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookConfig:
    drop_index_on_branch_delete: bool = False
    delivery_ttl_seconds: int = 3 * 24 * 3600


@dataclass(frozen=True)
class WebhookOutcome:
    """What became of a delivery: `status` is pong, duplicate, accepted or ignored (the API
    answers the first two 200, the others 202); the other fields say what it was about."""

    status: str
    repository_id: str | None = None
    delivery_id: str | None = None  # duplicate: the delivery seen before
    sha: str | None = None  # accepted push: the SHA requested
    index_status: str | None = None  # accepted push: the repository's index status now
    branch_deleted: str | None = None  # accepted deletion: the tracked branch
    index_dropped: bool | None = None  # accepted deletion: whether the index was dropped
    reason: str | None = None  # ignored: why


class CachedWebhookSecrets(CachedSecret[WebhookSecrets]):
    """The secret document, read at most once per `ttl_seconds` per process (a rotation takes
    effect within that time). A missing secret reads as none configured: every delivery is
    refused until one is set."""

    def parse(self, document: str) -> WebhookSecrets:
        return parse_webhook_secrets(document)

    def missing(self, exc: NotFound) -> WebhookSecrets:
        log.warning("webhook secret %s does not exist: refusing every delivery", self._name)
        return WebhookSecrets()


class WebhookReceiver:
    def __init__(
        self,
        *,
        secrets: CachedWebhookSecrets,
        deliveries: DeliveryLog,
        repos: RepoStore,
        events: EventLog,
        clock: Clock,
        requests: IndexRequests,
        config: WebhookConfig,
    ) -> None:
        self._secrets = secrets
        self._deliveries = deliveries
        self._repos = repos
        self._events = events
        self._clock = clock
        self._requests = requests
        self._replays = PushReplays(ports=requests.ports, config=requests.config)
        self._c = config

    def receive(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Raises Unauthenticated (401) before anything else, then InvalidRequest (400)."""
        h = {k.lower(): v for k, v in headers.items()}
        self._authenticate(body, h)
        delivery = parse_headers(h.get("x-github-event"), h.get("x-github-delivery"))
        observability.append_keys(deliveryId=delivery.delivery_id, githubEvent=delivery.event)
        payload = parse_payload(body, h.get("content-type"))
        push = parse_push(payload) if delivery.event == "push" else None
        if push is not None:
            observability.append_keys(repositoryId=push.repository_id)
        now = self._clock.now()
        expires = now + self._c.delivery_ttl_seconds
        if not self._deliveries.claim(
            delivery.delivery_id, event=delivery.event, now=now, expires_at=expires
        ):
            return WebhookOutcome("duplicate", delivery_id=delivery.delivery_id)
        try:
            return self._handle(delivery, push)
        except Exception:
            self._forget(delivery.delivery_id)  # so GitHub's redelivery is handled, not skipped
            raise

    def _authenticate(self, body: bytes, headers: Mapping[str, str]) -> None:
        digest = parse_signature(headers.get("x-hub-signature-256"))
        hint = repository_hint(body, headers.get("content-type"))
        accepted = self._secrets.get().for_repository(hint)
        if not accepted or not signature_matches(accepted, body, digest):
            raise Unauthenticated("the webhook signature does not match")

    def _handle(self, delivery: DeliveryHeaders, push: Push | None) -> WebhookOutcome:
        if delivery.event == "ping":
            return WebhookOutcome("pong")
        if push is None:
            return _ignored(f"{delivery.event} events are not used")
        repo = self._find(push.repository_id)
        if repo is not None:
            received = {
                "deliveryId": delivery.delivery_id,
                "event": delivery.event,
                "ref": push.ref,
                "after": push.after,
            }
            self._append(repo.id, EventType.WEBHOOK_RECEIVED, received)
        decision = decide_push(push, repo)
        if repo is None or decision.action is PushAction.IGNORE:
            return _ignored(decision.reason, push.repository_id)
        if decision.action is PushAction.DELETE_BRANCH:
            if self._replays.deletion_is_stale(repo):
                return _ignored("stale", repo.id)
            return self._branch_deleted(repo, push)
        if self._replays.is_stale(repo, push):
            return _ignored("stale", repo.id)
        outcome = self._requests.request_at(repo, push.after, source="webhook")
        status = outcome.status.value
        return WebhookOutcome("accepted", repo.id, sha=push.after, index_status=status)

    def _branch_deleted(self, repo: Repository, push: Push) -> WebhookOutcome:
        drop = self._c.drop_index_on_branch_delete
        self._repos.mark_branch_deleted(repo.id, drop_index=drop, now=self._clock.now())
        data = {"branch": push.branch, "sha": push.before, "indexDropped": drop}
        self._append(repo.id, EventType.BRANCH_DELETED, data)
        return WebhookOutcome("accepted", repo.id, branch_deleted=push.branch, index_dropped=drop)

    def _find(self, repository_id: str) -> Repository | None:
        """GitHub names are case-insensitive; ids are registered as the client typed them."""
        repo = self._repos.get(repository_id)
        if repo is None and repository_id != repository_id.lower():
            repo = self._repos.get(repository_id.lower())
        return repo

    def _append(self, repository_id: str, type: str, data: Mapping[str, object]) -> None:
        append_event(self._events, self._clock, repository_id, type, data)

    def _forget(self, delivery_id: str) -> None:
        try:
            self._deliveries.release(delivery_id)
        except Exception:
            log.warning("could not release delivery %s", delivery_id, exc_info=True)


def _ignored(reason: str, repository_id: str | None = None) -> WebhookOutcome:
    return WebhookOutcome("ignored", repository_id, reason=reason)
