"""Routes: search and chat over a repository's current generation."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import ChatRequest, ChatResponse, SearchRequest, SearchResponse

bp = Blueprint(__name__)


@endpoint(
    bp, "/search", "POST", body=SearchRequest, responses={200: SearchResponse}, not_ready=True
)
def search(req: Incoming) -> Response:
    """Ranked search over one repository, an owner's repositories, or a list of them."""
    body = req.model(SearchRequest).dump()
    return reply(SearchResponse, bootstrap.searcher(req.identity).search(body))


@endpoint(
    bp, "/chat/query", "POST", body=ChatRequest, responses={200: ChatResponse}, not_ready=True
)
def chat_query(req: Incoming) -> Response:
    """An answer about a repository, with sources verified at the indexed commit."""
    body = req.model(ChatRequest).dump()
    return reply(ChatResponse, bootstrap.chat(req.identity).ask(body))
