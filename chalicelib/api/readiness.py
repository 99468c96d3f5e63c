"""How every query route answers when a repository has nothing ready to serve."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import bootstrap
from chalicelib.api.http import json_response
from chalicelib.errors import NotReady
from chalicelib.services.generations import estimated_seconds


def not_ready_response(exc: NotReady, repository_id: str) -> Response:
    """202 while a first index is built; 400 when there is nothing to answer from."""
    if exc.status == "indexing":
        repo = bootstrap.repo_store().get(repository_id)
        wait = estimated_seconds(repo) if repo else 30
        return json_response(
            {"status": "indexing", "message": exc.message, "estimatedTime": wait}, status=202
        )
    body = {
        "status": exc.status,
        "message": exc.message,
        "error": {"code": f"repository_{exc.status}", "message": exc.message},
    }
    return json_response(body, status=400)
