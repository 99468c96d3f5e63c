"""Routes: search and chat over a repository's current generation."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import ChatRequest, ChatResponse, SearchRequest, SearchResponse
from chalicelib.services.chat import Question
from chalicelib.services.search import SearchQuery

bp = Blueprint(__name__)


@endpoint(
    bp, "/search", "POST", body=SearchRequest, responses={200: SearchResponse}, not_ready=True
)
def search(req: Incoming) -> Response:
    """Ranked search over one repository, an owner's repositories, or a list of them."""
    found = bootstrap.searcher(req.identity).search(search_query(req.model(SearchRequest)))
    return reply(SearchResponse, views.search_result(found))


@endpoint(
    bp, "/chat/query", "POST", body=ChatRequest, responses={200: ChatResponse}, not_ready=True
)
def chat_query(req: Incoming) -> Response:
    """An answer about a repository, with sources verified at the indexed commit.

    503 with `Retry-After` when the configured answer model fails or times out."""
    m = req.model(ChatRequest)
    question = Question(m.repository_id, m.question, m.conversation_id)
    return reply(ChatResponse, views.chat_answer(bootstrap.chat(req.identity).ask(question)))


def search_query(m: SearchRequest) -> SearchQuery:
    """The use case's query: `repositoryId` is a scope of one."""
    ids = (m.repository_id,) if m.repository_id is not None else tuple(m.repository_ids or ())
    return SearchQuery(m.query, ids, m.owner, m.k, m.mode)
