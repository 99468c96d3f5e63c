"""Routes: search and chat over a repository's current generation."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import Incoming, endpoint, json_response

bp = Blueprint(__name__)


@endpoint(bp, "/search", "POST", body="json")
def search(req: Incoming) -> Response:
    return json_response(bootstrap.searcher(req.identity).search(req.body))


@endpoint(bp, "/chat/query", "POST", body="json")
def chat_query(req: Incoming) -> Response:
    return json_response(bootstrap.chat(req.identity).ask(req.body))
