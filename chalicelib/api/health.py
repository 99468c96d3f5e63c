"""Route: liveness."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import Incoming, endpoint, json_response

bp = Blueprint(__name__)


@endpoint(bp, "/health", scope=None)
def health(req: Incoming) -> Response:
    return json_response({"status": "ok", "service": "strata"})
