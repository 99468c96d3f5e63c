"""Routes: register/index a repository and read its status."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import handles_errors, iso_time, json_response, parse_json_object
from chalicelib.domain.freshness import lag_seconds
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.models import Repository, Stats, Status

bp = Blueprint(__name__)


@bp.route("/repositories/index", methods=["POST"], content_types=["application/json"])
@handles_errors
def index_repository() -> Response:
    body = parse_json_object(bp.current_request.raw_body, bootstrap.settings().max_body_bytes)
    outcome = bootstrap.index_requests().request(body)
    repo = outcome.repository
    return json_response(
        {
            "repositoryId": repo.id,
            "status": outcome.status.value,
            "message": outcome.message,
            "indexedAt": iso_time(repo.indexed_at),
            "stats": repo.stats.to_public(),
        }
    )


@bp.route("/repositories/{repository_id}/status", methods=["GET"])
@handles_errors
def repository_status(repository_id: str) -> Response:
    rid = validate_repository_id(repository_id)
    repo = bootstrap.repo_store().get(rid) or Repository(id=rid, remote="")
    return json_response(status_view(repo, bootstrap.clock().now()))


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
