"""Checks shared by every request: bounded JSON, valid text, strict integers (known fields
and their types are the request models' job, api/models.py).

JSON from outside (request bodies, webhook payloads, secret documents) is decoded by
`json_object` alone: it bounds nesting depth, refuses NaN/Infinity, huge numbers and strings
that are not valid Unicode (a lone surrogate decodes from `"\\ud800"` but cannot be stored or
encoded), so no later step meets a value it cannot handle.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from chalicelib.errors import InvalidRequest, StrataError

MAX_DEPTH = 32  # objects and arrays inside each other; real payloads use fewer than 10
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: str.isdigit() accepts '²', '①', '٣'


def is_valid_text(value: str) -> bool:
    """True when the string is valid Unicode (no lone surrogates), i.e. encodes as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def bounded_int(raw: str | None, name: str, low: int, high: int, default: int) -> int:
    """An integer parameter written in ASCII digits, within [low, high]; `default` if absent."""
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not allowed")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 decodes to inf
        raise ValueError("numbers must be finite")
    return value


def json_object(
    text: str | bytes,
    what: str,
    error: type[StrataError] = InvalidRequest,
    max_depth: int = MAX_DEPTH,
) -> dict[str, Any]:
    """Decode a bounded JSON object, raising `error` naming `what` (never echoing the input)."""
    try:
        value = json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError as exc:
        raise error(f"{what} is nested more than {max_depth} levels deep") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also numbers over 4300 digits
        raise error(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise error(f"{what} must be a JSON object")
    _check_tree(value, what, error, max_depth)
    return value


def _check_tree(root: object, what: str, error: type[StrataError], max_depth: int) -> None:
    """Depth and text checks over the decoded value, iteratively (no recursion to exhaust)."""
    stack: list[tuple[object, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                raise error(f"{what} is nested more than {max_depth} levels deep")
            for key, item in value.items():
                if not is_valid_text(key):
                    raise error(f"{what} holds a string that is not valid Unicode")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > max_depth:
                raise error(f"{what} is nested more than {max_depth} levels deep")
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and not is_valid_text(value):
            raise error(f"{what} holds a string that is not valid Unicode")
