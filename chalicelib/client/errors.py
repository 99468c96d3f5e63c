"""What a call to a Strata API can fail with, by type, so a caller never reads a status code.

    ClientError                 .message (one line), .status, .code, .body, .retry_after
    ├── Unreachable             nothing answered: refused, reset, timed out, not HTTP
    ├── NotReady                no generation to answer from yet (202 while indexing, or 400
    │                           `repository_<state>`): .state, .estimated_seconds
    └── ApiError                any other answer of 400 or more
        ├── BadRequest          400, and 413 (PayloadTooLarge)
        ├── Unauthorized        401: no key, or an unknown, wrong or revoked one
        ├── Forbidden           403: the key's scope is not enough
        ├── NotFound            404
        ├── Conflict            409 (a commit's: .current_sha, the branch head it found)
        ├── Unprocessable       422 (a commit's syntax errors: .diagnostics)
        ├── RateLimited         429 (retried first; .retry_after from `Retry-After`)
        └── ServerError         5xx
            └── Unavailable     503 (retried first)

The server's error shape is `{"error": {"code", "message"}}`; its message is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ClientError(Exception):
    """A request that did not produce a usable answer."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body
        self.retry_after = retry_after


class Unreachable(ClientError):
    pass


class NotReady(ClientError):
    """`state` is the repository's (indexing, idle, error); `estimated_seconds` while indexing."""

    @property
    def state(self) -> str:
        state = self.body.get("status") if isinstance(self.body, dict) else None
        return str(state or "unknown")

    @property
    def estimated_seconds(self) -> float | None:
        wait = self.body.get("estimatedTime") if isinstance(self.body, dict) else None
        return float(wait) if isinstance(wait, int | float) else None


class ApiError(ClientError):
    pass


class BadRequest(ApiError):
    pass


class PayloadTooLarge(BadRequest):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    @property
    def current_sha(self) -> str | None:
        sha = self.body.get("currentSha") if isinstance(self.body, dict) else None
        return str(sha) if sha else None


class Unprocessable(ApiError):
    @property
    def diagnostics(self) -> list[dict[str, Any]]:
        found = self.body.get("diagnostics") if isinstance(self.body, dict) else None
        return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


class RateLimited(ApiError):
    pass


class ServerError(ApiError):
    pass


class Unavailable(ServerError):
    pass


ERROR_BY_STATUS: Mapping[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: RateLimited,
    503: Unavailable,
}


def error_for(status: int, body: Any, retry_after: float | None = None) -> ClientError | None:
    """The error an answer stands for, or None for a usable one (2xx other than the 202 of
    a repository still indexing; a 202 that accepted work, a queued check, is usable)."""
    code, message = _server_error(body)
    if status == 202 and not (isinstance(body, dict) and body.get("checkId")):
        wait = body.get("estimatedTime", "?") if isinstance(body, dict) else "?"
        text = f"the repository is still indexing (about {wait} s left)"
        return NotReady(text, status=status, code="repository_indexing", body=body)
    if status < 400:
        return None
    text = f"{message} (HTTP {status})" if message else f"the API answered HTTP {status}"
    if status == 400 and (code or "").startswith("repository_"):
        return NotReady(text, status=status, code=code, body=body)
    cls = ERROR_BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(text, status=status, code=code, body=body, retry_after=retry_after)


def _server_error(body: Any) -> tuple[str | None, str | None]:
    """(code, message) of the server's error shape, else of API Gateway's `{"Message"}`."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        return (str(code) if code else None), (str(message) if message else None)
    message = body.get("message") or body.get("Message")
    return None, (str(message) if message else None)
