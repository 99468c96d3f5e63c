"""The HTTP boundary: body parsing and the one table mapping errors to status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice.app import Response

from chalicelib.domain.validation import json_object
from chalicelib.errors import (
    AccessDenied,
    Conflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    StrataError,
    TransientError,
    Unauthenticated,
)

log = logging.getLogger(__name__)

# Most specific first. Anything not listed (a bug, a permanent backend failure) is a 500.
STATUS_BY_ERROR: tuple[tuple[type[StrataError], int], ...] = (
    (PayloadTooLarge, 413),
    (InvalidRequest, 400),
    (NotFound, 404),
    (Unauthenticated, 401),
    (AccessDenied, 403),
    (Conflict, 409),
    (TransientError, 503),
)

JSON: dict[str, str | list[str]] = {"Content-Type": "application/json"}


def error_response(http_status: int, code: str, message: str, **extra: object) -> Response:
    return Response(
        body={"error": {"code": code, "message": message}, **extra},
        status_code=http_status,
        headers=JSON,
    )


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers=JSON)


def parse_json_object(raw: str | bytes | None, max_bytes: int) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = raw.encode()
    if raw is not None and len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
    if not raw:
        raise InvalidRequest("request body must be a JSON object")
    return json_object(raw, "request body")


def handles_errors(route: Callable[..., Response]) -> Callable[..., Response]:
    """Turn StrataErrors into JSON errors; an unexpected failure is a 500 without details."""

    @functools.wraps(route)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return route(*args, **kwargs)
        except StrataError as exc:
            for cls, status in STATUS_BY_ERROR:
                if isinstance(exc, cls):
                    return error_response(status, exc.code, exc.message)
            log.exception("request failed")
            return error_response(500, exc.code, "internal error")
        except Exception:
            log.exception("request failed unexpectedly")
            return error_response(500, "internal", "internal error")

    return wrapper


def iso_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
