"""Route: a repository's events, newest first, a page at a time."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import EventsResponse
from chalicelib.api.wire import Int, Text
from chalicelib.domain.events import DEFAULT_LIMIT, MAX_LIMIT

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/repositories/{repository_id}/events",
    query={"limit": Int(1, MAX_LIMIT, DEFAULT_LIMIT), "cursor": Text(200)},
    responses={200: EventsResponse},
)
def repository_events(req: Incoming) -> Response:
    """A repository's events, newest first, a page at a time."""
    q = req.query
    queries = bootstrap.event_queries(req.identity)
    page = queries.list(req.path["repository_id"], q["limit"], q["cursor"])
    return reply(EventsResponse, views.events_page(page))
