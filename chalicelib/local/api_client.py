"""A small HTTP client for Strata's API, on the standard library only (the CLI installs light)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


class ApiError(Exception):
    """A request that did not produce a usable answer; `message` is one line for a human."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def repository_path(repository_id: str, suffix: str = "") -> str:
    # ':' is allowed in a path segment; everything else unusual is escaped.
    return f"/repositories/{quote(repository_id, safe=':')}{suffix}"


def exchange(
    base_url: str,
    method: str,
    path: str,
    body: object = None,
    timeout: float = 60.0,
    *,
    api_key: str | None = None,
) -> tuple[int, Any]:
    """One request: (status, decoded body) for any HTTP answer, errors included; `api_key`
    goes in `Authorization: Bearer`. Raises urllib.error.URLError / OSError when nothing
    answers."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        base_url.rstrip("/") + path, data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json(exc.read())


class StrataApi:
    def __init__(self, base_url: str, timeout: float = 60.0, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._api_key = api_key

    def get(self, path: str) -> Reply:
        return self._send("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Reply:
        return self._send("POST", path, body)

    def delete(self, path: str) -> Reply:
        return self._send("DELETE", path)

    def _send(self, method: str, path: str, body: object = None) -> Reply:
        try:
            status, answer = exchange(
                self.base_url, method, path, body, self._timeout, api_key=self._api_key
            )
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(self._unreachable(exc)) from None
        if status >= 400:
            raise ApiError(_reason(status, answer) + _hint(status, self._api_key), status, answer)
        return Reply(status, answer)

    def _unreachable(self, exc: Exception) -> str:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError):
            why = f"no answer within {self._timeout:g} s"
        else:
            why = str(getattr(reason, "strerror", None) or reason)
        return f"cannot reach the Strata API at {self.base_url} ({why}); is `strata serve` running?"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


def _hint(status: int, api_key: str | None) -> str:
    """What to do about a 401 the CLI can explain."""
    if status != 401:
        return ""
    if not api_key:
        return "; set STRATA_API_KEY, or run `strata serve` here once to make .strata/api-key"
    return "; check STRATA_API_KEY (or .strata/api-key)"


def _reason(status: int, body: Any) -> str:
    """The server's own message when it gave one, else the status."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{error['message']} (HTTP {status})"
        if body.get("message"):
            return f"{body['message']} (HTTP {status})"
        if body.get("Message"):  # API Gateway / Chalice's own errors
            return f"{body['Message']} (HTTP {status})"
    return f"the API answered HTTP {status}"
