"""Route: GitHub webhook deliveries (signed, deduplicated, answered within GitHub's 10 s)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import Incoming, endpoint, json_response

bp = Blueprint(__name__)

# GitHub sends JSON, or the same JSON form-encoded in a `payload` field (hook setting).
_CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded"]


# Open to callers without an API key: a delivery proves itself by its HMAC signature.
@endpoint(bp, "/webhooks/github", "POST", body="raw", content_types=_CONTENT_TYPES, scope=None)
def github_webhook(req: Incoming) -> Response:
    outcome = bootstrap.webhooks().receive(req.raw_body, req.headers)
    return json_response(outcome.body, outcome.http_status)
