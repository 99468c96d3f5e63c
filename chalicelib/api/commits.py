"""Route: commit changes to a branch, with compare-and-swap on its head (ADR 22)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import (
    IDEMPOTENCY_KEY_PATTERN,
    CommitConflict,
    CommitRejected,
    CommitRequest,
    CommitResponse,
    ResponseModel,
)
from chalicelib.api.wire import Header
from chalicelib.domain.commits import Author, RawChange
from chalicelib.domain.identity import Scope
from chalicelib.services.commits import CommitAsk

bp = Blueprint(__name__)

IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"  # `true` on an answer given before to the same key
ANSWERS: dict[int, type[ResponseModel]] = {
    200: CommitResponse,
    409: CommitConflict,
    422: CommitRejected,
}


@endpoint(
    bp,
    "/repositories/{repository_id}/commits",
    "POST",
    body=CommitRequest,
    scope=Scope.INDEX,
    responses=dict(ANSWERS),
    headers={
        IDEMPOTENCY_KEY: Header(
            IDEMPOTENCY_KEY_PATTERN,
            255,
            "makes a retry safe: the same key and request get the same answer (kept a day)",
        )
    },
    max_body=lambda: bootstrap.settings().commit_max_body_bytes,
)
def commit_changes(req: Incoming) -> Response:
    """Commit changes to a branch if it is still at `baseSha` (optionally syntax-checked)."""
    body = req.model(CommitRequest)
    ask = CommitAsk(
        branch=body.branch,
        base_sha=body.base_sha,
        message=body.message,
        author=Author(body.author.name, body.author.email),
        changes=[RawChange(c.path, c.content, c.content_base64, c.delete) for c in body.changes],
        check=body.check,
    )
    key = req.headers.get(IDEMPOTENCY_KEY.lower())
    answer = bootstrap.commits(req.identity).commit(req.path["repository_id"], ask, key)
    status, data = views.commit_outcome(answer.outcome)
    headers = {REPLAYED: "true"} if answer.replayed else None
    return reply(ANSWERS[status], data, status, headers)
