"""Route: GitHub webhook deliveries (signed, deduplicated, answered within GitHub's 10 s)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import handles_errors, json_response
from chalicelib.errors import PayloadTooLarge

bp = Blueprint(__name__)

# GitHub sends JSON, or the same JSON form-encoded in a `payload` field (hook setting).
_CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded"]


@bp.route("/webhooks/github", methods=["POST"], content_types=_CONTENT_TYPES)
@handles_errors
def github_webhook() -> Response:
    request = bp.current_request
    raw = request.raw_body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    limit = bootstrap.settings().max_body_bytes
    if len(body) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    outcome = bootstrap.webhooks().receive(body, dict(request.headers))
    return json_response(outcome.body, outcome.http_status)
