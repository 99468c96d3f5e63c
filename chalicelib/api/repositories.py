"""Routes: register/index a repository and read its status."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import IndexRequest, IndexResponse, StatusResponse
from chalicelib.api.wire import Text
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
    # notifyUrl is checked before anything else, and stored once the repository is the
    # caller's, before any work is queued (ADR 24).
    body = req.model(IndexRequest)
    target = IndexTarget(**body.model_dump(exclude={"notify_url", "notify_secret"}))
    callbacks = bootstrap.callback_registrar()
    notify = callbacks.check(body.notify_url, body.notify_secret)
    tenant = req.identity.tenant

    def registered(repository_id: str) -> None:
        if notify is not None:
            callbacks.register(repository_id, tenant, notify)

    outcome = bootstrap.index_requests(req.caller).request(
        target, req.identity, registered=registered
    )
    return reply(IndexResponse, views.index_outcome(outcome))


@endpoint(
    bp,
    "/repositories/{repository_id}/status",
    query={"at": Text(40)},
    responses={200: StatusResponse},
)
def repository_status(req: Incoming) -> Response:
    """A repository's status, stats and freshness (never 404: unknown is `idle`), or `at` a time.

    `at` (ISO 8601, or epoch seconds): what the status was then, rebuilt from the events
    (ADR 23); 400 for anything else."""
    rid = req.path["repository_id"]
    if req.query["at"] is not None:
        then = bootstrap.status_history(req.identity).status_at(rid, req.query["at"])
        return reply(StatusResponse, views.repository_status(then.repository, then.at))
    repo = repository_as_seen(bootstrap.repo_store(), req.identity, rid)
    return reply(StatusResponse, views.repository_status(repo, bootstrap.clock().now()))
