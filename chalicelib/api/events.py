"""Route: a repository's events, newest first, a page at a time."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import handles_errors, json_response

bp = Blueprint(__name__)


@bp.route("/repositories/{repository_id}/events", methods=["GET"])
@handles_errors
def repository_events(repository_id: str) -> Response:
    query: dict[str, str] = dict(bp.current_request.query_params or {})
    page = bootstrap.event_queries().list(repository_id, query.get("limit"), query.get("cursor"))
    return json_response(page)
