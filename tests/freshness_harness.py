"""The unit harness plus what freshness needs: an event log, webhook deliveries and secrets,
and helpers that sign and deliver GitHub webhooks the way GitHub does."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chalicelib.domain.webhook_signatures import sign
from chalicelib.services.context import IndexPorts
from chalicelib.services.index_requests import IndexRequests
from chalicelib.services.sweep import Sweeper, SweepReport
from chalicelib.services.webhooks import (
    CachedWebhookSecrets,
    WebhookConfig,
    WebhookOutcome,
    WebhookReceiver,
)
from tests.fakes.stores import FakeDeliveryLog, FakeEventLog, FakeSecretStore
from tests.harness import REMOTE, REPO_ID, Harness

# Real GitHub payloads, kept with the tests (their source and licence: README.md there).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "github-webhooks"
SECRET_NAME = "strata-test/webhooks/github"
SECRET = "it's a secret to everybody"


def fixture_payload(name: str) -> dict[str, Any]:
    """A real GitHub payload from tests/fixtures/github-webhooks (a missing one fails)."""
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload


def fixture_names() -> list[str]:
    """Every payload file, for parametrize: none at all is an error, never an empty (skipped)
    parameter set."""
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    if not names:
        raise FileNotFoundError(f"no webhook payloads in {FIXTURES}")
    return names


def push_payload(
    sha: str,
    *,
    full_name: str = "acme/widgets",
    ref: str = "refs/heads/main",
    before: str = "0" * 40,
    deleted: bool = False,
) -> dict[str, Any]:
    """A push shaped like GitHub's (the fixture's fields, trimmed to what matters)."""
    owner, name = full_name.split("/")
    return {
        "ref": ref,
        "before": before,
        "after": sha,
        "created": before == "0" * 40,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "commits": [],
        "head_commit": None,
        "repository": {
            "id": 1,
            "name": name,
            "full_name": full_name,
            "private": False,
            "owner": {"name": owner, "login": owner},
            "default_branch": "main",
        },
        "pusher": {"name": owner},
        "sender": {"login": owner},
    }


def signed_headers(
    body: bytes, event: str, *, secret: str = SECRET, delivery_id: str | None = None
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
        "User-Agent": "GitHub-Hookshot/abc123",
    }


@dataclass
class FreshnessHarness(Harness):
    events: FakeEventLog = field(default_factory=FakeEventLog)
    deliveries: FakeDeliveryLog = field(default_factory=FakeDeliveryLog)
    secret_store: FakeSecretStore = field(
        default_factory=lambda: FakeSecretStore({SECRET_NAME: json.dumps({"default": SECRET})})
    )
    webhook_config: WebhookConfig = field(default_factory=WebhookConfig)

    @property
    def ports(self) -> IndexPorts:
        return replace(super().ports, events=self.events)

    def receiver(self) -> WebhookReceiver:
        return WebhookReceiver(
            secrets=CachedWebhookSecrets(self.secret_store, SECRET_NAME, self.clock, 0),
            deliveries=self.deliveries,
            repos=self.repos,
            events=self.events,
            clock=self.clock,
            requests=IndexRequests(ports=self.ports, config=self.config),
            config=self.webhook_config,
        )

    def deliver(
        self,
        event: str,
        payload: object,
        *,
        secret: str = SECRET,
        delivery_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> WebhookOutcome:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = signed_headers(body, event, secret=secret, delivery_id=delivery_id)
        return self.receiver().receive(body, {**sent, **(headers or {})})

    def push(self, sha: str, **kwargs: Any) -> WebhookOutcome:
        """A push that continues the branch from the newest SHA the index knows (GitHub's
        `before` of the next push), unless the test gives `before`."""
        if "before" not in kwargs:
            known = self.repos.get(REPO_ID)
            newest = known.requested_sha or known.indexed_sha if known else None
            kwargs["before"] = newest or "0" * 40
        return self.deliver("push", push_payload(sha, **kwargs))

    def sweep(self) -> SweepReport:
        requests = IndexRequests(ports=self.ports, config=self.config)
        return Sweeper(ports=self.ports, config=self.config, requests=requests).run()

    def register(self, files: dict[str, str] | None = None, *, index: bool = True) -> str:
        """A GitHub repository registered through the API path, indexed once; its head sha."""
        sha = self.git.commit(REMOTE, files or {"README.md": "# Widgets\n"})
        self.request()
        if index:
            self.run()
        return sha
