"""Routes: check a repository's files at a commit, read a check, list recent checks."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import (
    MAX_CHECK_LIST,
    CheckAccepted,
    CheckList,
    CheckRequest,
    CheckView,
)
from chalicelib.api.wire import Int
from chalicelib.domain.identity import Scope
from chalicelib.services.check_requests import CheckRequest as Wanted

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/repositories/{repository_id}/checks",
    "POST",
    body=CheckRequest,
    scope=Scope.INDEX,
    responses={202: CheckAccepted},
)
def request_check(req: Incoming) -> Response:
    """Check files of a commit (syntax or build level); poll the check for its result."""
    body = req.model(CheckRequest)
    wanted = Wanted(level=body.level, sha=body.sha, paths=body.paths)
    check = bootstrap.check_requests(req.identity).request(req.path["repository_id"], wanted)
    return reply(CheckAccepted, views.check_accepted(check), 202)


@endpoint(
    bp,
    "/repositories/{repository_id}/checks/{check_id}",
    responses={200: CheckView},
)
def get_check(req: Incoming) -> Response:
    """A check's status, stats and (once it ended) diagnostics."""
    checks = bootstrap.check_requests(req.identity)
    found = checks.get(req.path["repository_id"], req.path["check_id"])
    return reply(CheckView, views.check_view(found))


@endpoint(
    bp,
    "/repositories/{repository_id}/checks",
    query={"limit": Int(1, MAX_CHECK_LIST, 20)},
    responses={200: CheckList},
)
def list_checks(req: Incoming) -> Response:
    """A repository's recent checks, newest first."""
    rid = req.path["repository_id"]
    found = bootstrap.check_requests(req.identity).recent(rid, req.query["limit"])
    return reply(CheckList, views.check_list(rid, found))
