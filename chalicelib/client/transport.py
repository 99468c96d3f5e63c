"""HTTP for the client, on the standard library only: one request (`exchange`), and `Transport`,
which adds the key, retries what the server asked to be retried, and raises by type.

A 429 or a 503 is retried at most `retries` times, after the `Retry-After` the server gave
(seconds or an HTTP date), else after a doubling backoff; a wait longer than `max_wait` is not
made: the error is raised with its `retry_after` for the caller to decide. Nothing else is
retried: another 4xx will not change, and a request that got no answer may have been acted on
(unless the caller says it is idempotent, as a commit sent with an Idempotency-Key is: then a
request that got no answer is sent again, after the same backoff).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

from chalicelib.client.errors import Unreachable, error_for

RETRIED = frozenset({429, 503})
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3
DEFAULT_MAX_WAIT = 60.0
FIRST_BACKOFF = 0.5


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    def retry_after(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
        """`Retry-After` in seconds (0 or more), or None when absent or unreadable."""
        raw = next((v for k, v in self.headers.items() if k.lower() == "retry-after"), None)
        if raw is None:
            return None
        raw = raw.strip()
        if raw.isdigit():
            return float(raw)
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now()).total_seconds())


def repository_path(repository_id: str, suffix: str = "") -> str:
    # ':' is allowed in a path segment; everything else unusual is escaped.
    return f"/repositories/{quote(repository_id, safe=':')}{suffix}"


def with_query(path: str, query: Mapping[str, object | None]) -> str:
    """`path?a=1&b=x` with the parameters that have a value."""
    given = {k: str(v) for k, v in query.items() if v is not None}
    return f"{path}?{urlencode(given)}" if given else path


def send_once(
    base_url: str,
    method: str,
    path: str,
    body: object = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    api_key: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request: the Reply for any HTTP answer, errors included; `api_key` goes in
    `Authorization: Bearer`. Raises urllib.error.URLError / OSError when nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json", **(extra_headers or {})}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        base_url.rstrip("/") + path, data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, _json(response.read()), dict(response.headers.items()))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, _json(exc.read()), dict(exc.headers.items()))


def exchange(
    base_url: str,
    method: str,
    path: str,
    body: object = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    api_key: str | None = None,
) -> tuple[int, Any]:
    """(status, decoded body) of one request, for tests and benchmarks that look at both."""
    reply = send_once(base_url, method, path, body, timeout, api_key=api_key)
    return reply.status, reply.body


class Transport:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = max(0, retries)
        self.max_wait = max_wait
        self._sleep = sleep

    def send(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = False,
    ) -> Reply:
        """The answer of a request that succeeded (2xx, not a 202); a ClientError otherwise.
        `idempotent`: sending it twice does no harm, so one that got no answer is retried."""
        attempt = 0
        while True:
            try:
                reply = self._attempt(method, path, body, headers)
            except Unreachable:
                if not idempotent or attempt >= self.retries:
                    raise
                self._sleep(FIRST_BACKOFF * 2**attempt)
                attempt += 1
                continue
            wait = reply.retry_after()
            error = error_for(reply.status, reply.body, wait)
            if error is None:
                return reply
            delay = self._delay(reply.status, wait, attempt)
            if delay is None:
                raise error
            self._sleep(delay)
            attempt += 1

    def _delay(self, status: int, retry_after: float | None, attempt: int) -> float | None:
        """How long to wait before the next attempt, or None to give up now."""
        if status not in RETRIED or attempt >= self.retries:
            return None
        delay = FIRST_BACKOFF * 2**attempt if retry_after is None else retry_after
        return delay if delay <= self.max_wait else None

    def _attempt(
        self, method: str, path: str, body: object, headers: Mapping[str, str] | None = None
    ) -> Reply:
        try:
            return send_once(
                self.base_url,
                method,
                path,
                body,
                self.timeout,
                api_key=self.api_key,
                extra_headers=headers,
            )
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            raise Unreachable(self._unreachable(exc)) from exc

    def _unreachable(self, exc: Exception) -> str:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, TimeoutError):
            why = f"no answer within {self.timeout:g} s"
        else:
            why = str(getattr(reason, "strerror", None) or reason)
        return f"cannot reach the Strata API at {self.base_url} ({why})"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")
