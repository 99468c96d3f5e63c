"""Routes: register/index a repository and read its status."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import Incoming, endpoint, iso_time, reply
from chalicelib.api.models import IndexRequest, IndexResponse, StatusResponse
from chalicelib.domain.freshness import lag_seconds
from chalicelib.domain.identity import Scope
from chalicelib.domain.models import Repository, Stats, Status
from chalicelib.domain.tenancy import visible

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
    body = req.model(IndexRequest).dump()
    outcome = bootstrap.index_requests(req.caller).request(body, req.identity)
    repo = outcome.repository
    return reply(
        IndexResponse,
        {
            "repositoryId": repo.id,
            "status": outcome.status.value,
            "message": outcome.message,
            "indexedAt": iso_time(repo.indexed_at),
            "stats": repo.stats.to_public(),
        },
    )


@endpoint(bp, "/repositories/{repository_id}/status", responses={200: StatusResponse})
def repository_status(req: Incoming) -> Response:
    """A repository's status, stats and freshness (never 404: unknown is `idle`)."""
    rid = req.path["repository_id"]
    # A repository the caller's tenant did not register reads as an unknown one: idle.
    repo = visible(req.identity, bootstrap.repo_store().get(rid)) or Repository(id=rid, remote="")
    return reply(StatusResponse, status_view(repo, bootstrap.clock().now()))


def status_view(repo: Repository, now: float) -> dict[str, object]:
    """What a client may see of the item: no remote, token, keys or job internals."""
    stats = repo.stats if repo.status is not Status.IDLE else Stats()
    return {
        "repositoryId": repo.id,
        "status": repo.status.value,
        "branch": repo.branch,
        "indexedAt": iso_time(repo.indexed_at),
        "indexedSha": repo.indexed_sha,
        "headSha": repo.head_sha,
        "lagSeconds": lag_seconds(repo, now),
        "stats": stats.to_public(),
        "progress": {
            "filesProcessed": repo.files_processed,
            "numFiles": repo.num_files,
            "filesEmbedded": repo.files_embedded,
        },
        "error": repo.error,
    }
