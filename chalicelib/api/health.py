"""Route: liveness."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import HealthResponse

bp = Blueprint(__name__)


@endpoint(bp, "/health", scope=None, responses={200: HealthResponse})
def health(req: Incoming) -> Response:
    """Liveness (no API key)."""
    return reply(HealthResponse, {"status": "ok", "service": "strata"})
