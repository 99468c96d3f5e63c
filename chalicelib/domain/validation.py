"""Checks shared by every request body: a JSON object, known fields only, bounded strings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from typing import Any

from chalicelib.errors import InvalidRequest, StrataError


def reject_unknown_fields(body: Mapping[str, object], allowed: Set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(sorted(unknown))}")


def required_text(body: Mapping[str, object], name: str, max_length: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidRequest(
            f"{name} must be a non-empty string of at most {max_length} characters"
        )
    return value


def json_object(
    text: str | bytes, what: str, error: type[StrataError] = InvalidRequest
) -> dict[str, Any]:
    """Decode a JSON object, raising `error` naming `what` (never echoing the input)."""
    try:
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise error(f"{what} must be a JSON object")
    return value
