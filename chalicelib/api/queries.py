"""Routes: search and chat over a repository's current generation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import handles_errors, json_response, parse_json_object
from chalicelib.api.readiness import not_ready_response
from chalicelib.errors import NotReady

bp = Blueprint(__name__)


@bp.route("/search", methods=["POST"], content_types=["application/json"])
@handles_errors
def search() -> Response:
    return _answer(lambda body: bootstrap.searcher().search(body))


@bp.route("/chat/query", methods=["POST"], content_types=["application/json"])
@handles_errors
def chat_query() -> Response:
    return _answer(lambda body: bootstrap.chat().ask(body))


def _answer(run: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
    body = parse_json_object(bp.current_request.raw_body, bootstrap.settings().max_body_bytes)
    try:
        return json_response(run(body))
    except NotReady as exc:
        return not_ready_response(exc, str(body.get("repositoryId", "")))
