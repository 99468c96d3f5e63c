"""The HTTP boundary: every route is declared through `endpoint`, which authenticates the
caller, then parses the request (path ids decoded once, declared query parameters only,
bounded JSON bodies) before the route body runs, and maps errors to status codes in one table.

    @endpoint(bp, "/repositories/{repository_id}/events", query={"limit": Int(1, 100, 20)})
    def repository_events(req: Incoming) -> Response: ...

`scope` (default `Scope.READ`) is what the route needs; `None` makes it open (`/health`, and
the webhook, which has its own signature). Before anything else is read, the API key of
`Authorization: Bearer <key>` is checked (401 with `WWW-Authenticate: Bearer` when missing,
malformed, unknown, wrong or revoked), then its scope (403), then its rate (429 with
`Retry-After`); the route gets the `Caller` on `Incoming.caller`.

A route body never sees raw input: a path parameter is percent-decoded once, valid Unicode
and bounded (and `repository_id` is a valid id); a query parameter was declared, given once,
and is an int in range or bounded text; a body is a JSON object of bounded size and depth
whose strings are valid Unicode. Chalice's own refusals (415, 405, an unhandled error) are
rewritten by `uniform_errors` into the same `{"error": {code, message}}` shape.

A request model (api/models.py) given as `body` validates the JSON object into
`Incoming.data` (a refusal is the same 400), and `reply` serialises a result through the
response model the route declared in `responses`; each declaration is recorded for the
OpenAPI document (api/wire.py, api/openapi.py, docs/decisions/0018).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import unquote

from chalice.app import Blueprint, Request, Response

from chalicelib import bootstrap, observability
from chalicelib.api import wire
from chalicelib.api.models import (
    NotReadyResponse,
    RepositoryNotReadyError,
    RequestModel,
    ResponseModel,
)
from chalicelib.api.wire import Header, Int, Param
from chalicelib.domain.identity import Caller, Scope
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.validation import bounded_int, is_valid_text, json_object
from chalicelib.errors import (
    AccessDenied,
    Conflict,
    IdempotencyKeyReused,
    InvalidRequest,
    ModelUnavailable,
    NotFound,
    NotReady,
    PayloadTooLarge,
    RateLimited,
    StrataError,
    TransientError,
    Unauthenticated,
)

log = logging.getLogger(__name__)

# Most specific first. Anything not listed (a bug, a permanent backend failure) is a 500.
STATUS_BY_ERROR: tuple[tuple[type[StrataError], int], ...] = (
    (PayloadTooLarge, 413),
    (IdempotencyKeyReused, 422),
    (InvalidRequest, 400),
    (NotFound, 404),
    (Unauthenticated, 401),
    (AccessDenied, 403),
    (RateLimited, 429),
    (Conflict, 409),
    (TransientError, 503),
)

JSON: dict[str, str | list[str]] = {"Content-Type": "application/json"}
# Retry-After of a 503 whose error names no time of its own (a busy branch, a remote or a
# store that did not answer): long enough for a commit lease or a throttle to clear.
UNAVAILABLE_RETRY_SECONDS = 2
MAX_PATH_PARAM = 500
JSON_TYPES = ["application/json"]


@dataclass(frozen=True)
class Incoming:
    """A request that passed the boundary's checks."""

    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    raw_body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    caller: Caller | None = None  # None only on the open routes
    data: RequestModel | None = None  # the body, validated by the route's request model

    def model(self, cls: type[wire.M]) -> wire.M:
        """The validated body, as the request model the route declared."""
        if not isinstance(self.data, cls):
            raise AssertionError(f"this route declares no {cls.__name__} body")
        return self.data

    @property
    def identity(self) -> Caller:
        """The authenticated caller: what a route hands the use cases that must know who asks."""
        if self.caller is None:
            raise AssertionError("an open route has no caller")
        return self.caller

    @property
    def actor(self) -> str:
        """The audit trail's name for the caller (`key:<id>`)."""
        return self.identity.actor


def error_response(
    http_status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> Response:
    return Response(
        body={"error": {"code": code, "message": message}, **extra},
        status_code=http_status,
        headers={**JSON, **(headers or {})},
    )


def json_response(
    body: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(body=body, status_code=status, headers={**JSON, **(headers or {})})


def reply(
    model: type[ResponseModel],
    data: Mapping[str, Any] | ResponseModel,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`data` serialised through the response model the route declared for `status`."""
    return json_response(wire.serialise(model, data), status, headers)


def endpoint(
    bp: Blueprint,
    path: str,
    method: str = "GET",
    *,
    query: Mapping[str, Param] | None = None,
    body: Literal["json", "raw"] | type[RequestModel] | None = None,
    content_types: list[str] | None = None,
    scope: Scope | None = Scope.READ,
    responses: wire.Responses | None = None,
    not_ready: bool = False,
    headers: Mapping[str, Header] | None = None,
    max_body: Callable[[], int] | None = None,
) -> Callable[[Callable[[Incoming], Response]], Callable[[Incoming], Response]]:
    """Register `route` on `bp` behind the boundary's checks and the error table. A request
    model as `body` validates the JSON body into `Incoming.data`; `responses` (status ->
    response model) and `not_ready` (the route may answer 202/400 for a repository without
    an index) go into the OpenAPI document with the rest of the declaration, and so do
    `headers`, the request headers the route reads (checked when sent). `max_body` is the
    route's own body cap in bytes (Settings.max_body_bytes otherwise)."""
    params = dict(query or {})
    model: type[RequestModel] | None = None
    kind: Literal["json", "raw"] | None = None
    if isinstance(body, str) or body is None:
        kind = body
    else:
        model, kind = body, "json"
    types = content_types or (JSON_TYPES if kind == "json" else None)

    def register(route: Callable[[Incoming], Response]) -> Callable[[Incoming], Response]:
        wire.declare(
            route,
            path=path,
            method=method,
            params=params,
            model=model,
            kind=kind,
            types=types,
            scope=scope,
            responses=responses,
            not_ready=not_ready,
            headers=headers,
        )

        @functools.wraps(route)
        def view(**path_params: str) -> Response:
            incoming: Incoming | None = None
            try:
                request = bp.current_request
                caller = authorize(request, scope) if scope is not None else None
                limit = max_body() if max_body else bootstrap.settings().max_body_bytes
                incoming = _parse(request, path_params, params, kind, caller, limit=limit)
                _check_headers(incoming.headers, headers or {})
                if model is not None:
                    incoming = replace(incoming, data=wire.parse_body(model, incoming.body))
                observability.append_keys(repositoryId=_repository_of(incoming) or None)
                return route(incoming)
            except NotReady as exc:
                return not_ready_response(exc)
            except StrataError as exc:
                return _error(exc, challenge=scope is not None)
            except Exception:
                log.exception("request failed unexpectedly")
                return error_response(500, "internal", "internal error")

        view.strata_boundary = True  # type: ignore[attr-defined]  # checked by a test
        view.strata_scope = scope  # type: ignore[attr-defined]  # checked by a test
        options: dict[str, Any] = {"methods": [method], "name": route.__name__}
        if types:
            options["content_types"] = types
        bp.route(path, **options)(view)
        return route

    return register


def not_ready_response(exc: NotReady) -> Response:
    """202 while a first index is built; 400 when there is nothing to answer from."""
    if exc.status == "indexing":
        wait = 30 if exc.estimated_seconds is None else exc.estimated_seconds
        ready = {"status": "indexing", "message": exc.message, "estimatedTime": wait}
        return reply(NotReadyResponse, ready, 202)
    body = {
        "status": exc.status,
        "message": exc.message,
        "error": {"code": f"repository_{exc.status}", "message": exc.message},
    }
    return reply(RepositoryNotReadyError, body, 400)


def authorize(request: Request, needed: Scope) -> Caller:
    """The caller of a request that needs `needed`: its key checked, then its scope, then
    its rate. Reads only the Authorization header (nothing else is parsed before this)."""
    header = request.headers.get("authorization") if request.headers else None
    caller = bootstrap.authenticator().authenticate(header)
    observability.append_keys(keyId=caller.key_id, tenant=caller.tenant)  # ids, not secrets
    if not caller.allows(needed):
        raise AccessDenied(
            f"this needs a key with the {needed.label} scope (this key has {caller.scope.label})"
        )
    bootstrap.rate_limiter().take(caller.key_id)
    return caller


def _error(exc: StrataError, *, challenge: bool = False) -> Response:
    """`challenge`: the route takes API keys, so a 401 says how to authenticate."""
    headers: dict[str, str] = {}
    if challenge and isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="strata"'
    if isinstance(exc, (RateLimited, ModelUnavailable)):
        headers["Retry-After"] = str(exc.retry_after)
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            if status == 503:  # every 503 says when to come back
                headers.setdefault("Retry-After", str(UNAVAILABLE_RETRY_SECONDS))
            return error_response(status, exc.code, exc.message, headers)
    log.error("request failed: %s", exc.code, exc_info=exc)
    return error_response(500, exc.code, "internal error")


def _repository_of(incoming: Incoming | None) -> str:
    if incoming is None:
        return ""
    rid = incoming.path.get("repository_id") or incoming.body.get("repositoryId")
    return rid if isinstance(rid, str) else ""


def _parse(
    request: Request,
    path_params: Mapping[str, str],
    params: Mapping[str, Param],
    body: Literal["json", "raw"] | None,
    caller: Caller | None,
    *,
    limit: int,
) -> Incoming:
    path = {name: _path_param(name, value) for name, value in path_params.items()}
    query = _query(request, params)
    raw = _raw_body(request, limit) if body else b""
    if body == "json" and not raw:
        raise InvalidRequest("request body must be a JSON object")
    return Incoming(
        path=path,
        query=query,
        body=json_object(raw, "request body") if body == "json" else {},
        raw_body=raw,
        # The key stays here: a route body has the Caller, never the credential.
        headers={k: v for k, v in (request.headers or {}).items() if k.lower() != "authorization"},
        caller=caller,
    )


def _path_param(name: str, value: str) -> str:
    """Percent-decoded exactly once (clients encode ':' as %3A; a literal ':' works too)."""
    try:
        decoded = unquote(value, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{name} is not valid UTF-8") from exc
    if not decoded or len(decoded) > MAX_PATH_PARAM or not is_valid_text(decoded):
        raise InvalidRequest(f"{name} must be 1 to {MAX_PATH_PARAM} characters of valid text")
    return validate_repository_id(decoded) if name == "repository_id" else decoded


def _query(request: Request, params: Mapping[str, Param]) -> dict[str, Any]:
    given = request.query_params
    names = set(given or ())
    unknown = names - set(params)
    if unknown:
        shown = ", ".join(sorted(n if is_valid_text(n) else "?" for n in unknown))[:200]
        raise InvalidRequest(f"unknown query parameters: {shown}")
    out: dict[str, Any] = {}
    for name, spec in params.items():
        values = given.getlist(name) if given is not None and name in names else []
        if len(values) > 1:
            raise InvalidRequest(f"give the query parameter {name} once")
        raw = values[0] if values else None
        if raw is not None and not is_valid_text(raw):
            raise InvalidRequest(f"{name} is not valid text")
        if isinstance(spec, Int):
            out[name] = bounded_int(raw, name, spec.low, spec.high, spec.default)
        elif raw is None or raw == "":
            out[name] = spec.default
        elif len(raw) > spec.max_length:
            raise InvalidRequest(f"{name} must be at most {spec.max_length} characters")
        else:
            out[name] = raw
    return out


def _check_headers(given: Mapping[str, str], declared: Mapping[str, Header]) -> None:
    """A declared header, when sent, is valid text of its pattern and length."""
    for name, spec in declared.items():
        value = given.get(name.lower())
        if value is None:
            continue
        fits = len(value) <= spec.max_length and re.fullmatch(spec.pattern, value)
        if not (is_valid_text(value) and fits):
            raise InvalidRequest(f"the {name} header must match {spec.pattern}")


def _raw_body(request: Request, limit: int) -> bytes:
    raw = request.raw_body or b""
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRequest("request body is not UTF-8") from exc
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    return raw


def uniform_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """HTTP middleware: Chalice's own error answers (415, 405, 500) in Strata's error shape."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        code = "internal" if response.status_code >= 500 else _snake(str(body["Code"]))
        message = "internal error" if response.status_code >= 500 else str(body.get("Message"))
        headers = {**response.headers, **JSON}
        return Response(
            body={"error": {"code": code, "message": message}},
            status_code=response.status_code,
            headers=headers,
        )
    return response


def _snake(name: str) -> str:
    name = name.removesuffix("Error")
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
