"""Routes: register/index a repository and read its status."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import IndexRequest, IndexResponse, StatusResponse
from chalicelib.domain.identity import Scope
from chalicelib.services.index_requests import IndexTarget, repository_as_seen

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/repositories/index",
    "POST",
    body=IndexRequest,
    scope=Scope.INDEX,
    responses={200: IndexResponse},
)
def index_repository(req: Incoming) -> Response:
    """Register a repository and index it (no work when its head is indexed, unless `force`)."""
    target = IndexTarget(**req.model(IndexRequest).model_dump())
    outcome = bootstrap.index_requests(req.caller).request(target, req.identity)
    return reply(IndexResponse, views.index_outcome(outcome))


@endpoint(bp, "/repositories/{repository_id}/status", responses={200: StatusResponse})
def repository_status(req: Incoming) -> Response:
    """A repository's status, stats and freshness (never 404: unknown is `idle`)."""
    repo = repository_as_seen(bootstrap.repo_store(), req.identity, req.path["repository_id"])
    return reply(StatusResponse, views.repository_status(repo, bootstrap.clock().now()))
