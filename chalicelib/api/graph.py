"""Routes: symbols and the code graph of a repository's current generation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import handles_errors, json_response
from chalicelib.api.readiness import not_ready_response
from chalicelib.errors import NotReady

bp = Blueprint(__name__)


def _params() -> dict[str, str]:
    return dict(bp.current_request.query_params or {})


def _answer(repository_id: str, run: Callable[[], dict[str, Any]]) -> Response:
    try:
        return json_response(run())
    except NotReady as exc:
        return not_ready_response(exc, repository_id)


@bp.route("/repositories/{repository_id}/symbols", methods=["GET"])
@handles_errors
def symbols(repository_id: str) -> Response:
    return _answer(repository_id, lambda: bootstrap.graph().symbols(repository_id, _params()))


@bp.route("/repositories/{repository_id}/graph/nodes/{name}", methods=["GET"])
@handles_errors
def graph_node(repository_id: str, name: str) -> Response:
    node = unquote(name)
    return _answer(repository_id, lambda: bootstrap.graph().node(repository_id, node, _params()))


@bp.route("/repositories/{repository_id}/graph/waves", methods=["GET"])
@handles_errors
def graph_waves(repository_id: str) -> Response:
    return _answer(repository_id, lambda: bootstrap.graph().waves(repository_id))


@bp.route("/repositories/{repository_id}/graph/sorry", methods=["GET"])
@handles_errors
def graph_sorry(repository_id: str) -> Response:
    return _answer(repository_id, lambda: bootstrap.graph().sorry(repository_id))
