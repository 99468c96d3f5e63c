"""Route: the OpenAPI 3.1 document of this API (open: no key needed to read the contract)."""

from __future__ import annotations

import functools
from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import openapi, wire
from chalicelib.api.http import Incoming, endpoint, json_response

bp = Blueprint(__name__)


@endpoint(bp, "/openapi.json", scope=None, responses={200: None})
def openapi_document(req: Incoming) -> Response:
    """This API's OpenAPI 3.1 document."""
    return json_response(_document(len(wire.ROUTES)))


@functools.cache
def _document(route_count: int) -> dict[str, Any]:
    """Built once per process (per set of routes: every blueprint registers on import)."""
    return openapi.build(wire.ROUTES)
