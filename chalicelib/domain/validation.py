"""Checks shared by every request body: known fields only, bounded strings."""

from __future__ import annotations

from collections.abc import Mapping, Set

from chalicelib.errors import InvalidRequest


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
