"""Route: GitHub webhook deliveries (signed, deduplicated, answered within GitHub's 10 s)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import WebhookResponse

bp = Blueprint(__name__)

# GitHub sends JSON, or the same JSON form-encoded in a `payload` field (hook setting).
_CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded"]
# Nothing left to do: 200. Anything accepted or ignored: 202.
_ANSWERED_AT_ONCE = {"pong": 200, "duplicate": 200}


# Open to callers without an API key: a delivery proves itself by its HMAC signature.
@endpoint(
    bp,
    "/webhooks/github",
    "POST",
    body="raw",
    content_types=_CONTENT_TYPES,
    scope=None,
    responses={200: WebhookResponse, 202: WebhookResponse},
)
def github_webhook(req: Incoming) -> Response:
    """A GitHub webhook delivery, proved by its `X-Hub-Signature-256` (no API key)."""
    outcome = bootstrap.webhooks().receive(req.raw_body, req.headers)
    status = _ANSWERED_AT_ONCE.get(outcome.status, 202)
    return reply(WebhookResponse, views.webhook_outcome(outcome), status)
