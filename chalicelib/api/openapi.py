"""The OpenAPI 3.1 document, built from the routes' declarations (api/wire.py) and their
pydantic models (api/models.py). `GET /openapi.json` serves it; `make openapi` writes it to
docs/openapi.json, and a test keeps that file equal to what this module builds.

Every operation lists its success responses, the 202/400 of a repository without an index
where the route can meet one, the error statuses its declaration implies (400 for any
input, 401/403/429 for a keyed route, 413/415 for a body), and `default` for the rest: every
4xx/5xx body has the one `{"error": {code, message}}` shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api import models
from chalicelib.api.wire import Header, QueryParam, RouteContract

TITLE = "Strata API"
VERSION = "0.1.0"
_REF = "#/components/schemas/{model}"
_PARAM_RE = re.compile(r"{([^}]+)}")
_ERRORS = {
    400: "the request was refused (invalid input)",
    401: "no valid API key (`WWW-Authenticate: Bearer`)",
    403: "the key's scope is too low, or access was refused",
    404: "not found",
    409: "a precondition on shared state did not hold",
    413: "the body is larger than the configured cap",
    415: "unsupported Content-Type",
    429: "over the key's rate (`Retry-After` says when to retry)",
    503: "a backend is unavailable; retry later",
}
_EXAMPLES: dict[str, dict[str, Any]] = {  # request bodies, as the e2e tests send them
    "IndexRequest": {"repositoryId": "local:shop"},
    "SearchRequest": {"repositoryId": "local:shop", "query": "cart total", "k": 5},
    "ChatRequest": {"repositoryId": "local:shop", "question": "where is the cart total?"},
    "CreateKeyRequest": {"tenant": "acme", "scope": "read", "name": "ci"},
    "CheckRequest": {"level": "syntax", "paths": ["shop"]},
    "CommitRequest": {
        "branch": "main",
        "baseSha": "0123456789abcdef0123456789abcdef01234567",
        "message": "Fix the cart total",
        "author": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "changes": [
            {"path": "shop/cart.py", "content": "def total(items):\n    return sum(items)\n"},
            {"path": "shop/logo.png", "contentBase64": "iVBORw0KGgo="},
            {"path": "shop/old.py", "delete": True},
        ],
        "check": "syntax",
    },
}


def build(routes: Iterable[RouteContract]) -> dict[str, Any]:
    ordered = sorted(routes, key=lambda r: (r.path, r.method))
    paths: dict[str, dict[str, Any]] = {}
    for route in ordered:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Serverless code intelligence for git repositories.",
        },
        "servers": [{"url": "http://127.0.0.1:8000", "description": "the local stack"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(ordered),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "strata_<keyId>_<secret>",
                    "description": "An API key: `Authorization: Bearer strata_<id>_<secret>`.",
                }
            },
        },
    }


def _schemas(routes: list[RouteContract]) -> dict[str, Any]:
    used: set[type[BaseModel]] = {
        models.ErrorResponse,
        models.NotReadyResponse,
        models.RepositoryNotReadyError,
    }
    for r in routes:
        used.update(m for m in r.responses.values() if m is not None)
        if r.body is not None:
            used.add(r.body)
    by_name = sorted(used, key=lambda m: m.__name__)
    _, top = models_json_schema(
        [(m, "validation" if m in _request_models(routes) else "serialization") for m in by_name],
        by_alias=True,
        ref_template=_REF,
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    for name, example in _EXAMPLES.items():
        if name in schemas:
            schemas[name]["examples"] = [example]
    return dict(sorted(schemas.items()))


def _request_models(routes: list[RouteContract]) -> set[type[BaseModel]]:
    return {r.body for r in routes if r.body is not None}


def _operation(r: RouteContract) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": r.name,
        "summary": r.summary,
        "tags": [r.path.strip("/").split("/")[0]],
        "parameters": _path_params(r.path)
        + [_query_param(q) for q in r.query]
        + [_header_param(name, h) for name, h in r.headers.items()],
        "responses": _responses(r),
    }
    op["security"] = [{"apiKey": []}] if r.scope else []
    if r.scope:
        op["description"] = f"Needs a key with the `{r.scope}` scope."
    body = _request_body(r)
    if body:
        op["requestBody"] = body
    if not op["parameters"]:
        del op["parameters"]
    return op


def _path_params(path: str) -> list[dict[str, Any]]:
    out = []
    for name in _PARAM_RE.findall(path):
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 500}
        if name == "repository_id":
            schema = {
                "type": "string",
                "maxLength": models.MAX_REPOSITORY_ID,
                "pattern": models.REPOSITORY_ID_PATTERN,
            }
        out.append({"name": name, "in": "path", "required": True, "schema": schema})
    return out


def _query_param(q: QueryParam) -> dict[str, Any]:
    schema: dict[str, Any]
    if q.kind == "integer":
        schema = {"type": "integer", "minimum": q.low, "maximum": q.high}
    else:
        schema = {"type": "string", "maxLength": q.max_length}
    if q.default is not None:
        schema["default"] = q.default
    return {"name": q.name, "in": "query", "required": False, "schema": schema}


def _header_param(name: str, h: Header) -> dict[str, Any]:
    schema = {"type": "string", "maxLength": h.max_length, "pattern": h.pattern}
    param: dict[str, Any] = {"name": name, "in": "header", "required": False, "schema": schema}
    if h.description:
        param["description"] = h.description
    return param


def _request_body(r: RouteContract) -> dict[str, Any] | None:
    if r.body is not None:
        content: dict[str, Any] = {"application/json": {"schema": _ref(r.body)}}
        example = _EXAMPLES.get(r.body.__name__)
        if example:
            content["application/json"]["example"] = example
        return {"required": True, "content": content}
    if r.raw_body:
        form = {"type": "object", "properties": {"payload": {"type": "string"}}}
        kinds: dict[str, Any] = {
            "application/json": {"type": "object"},
            "application/x-www-form-urlencoded": form,
        }
        return {
            "required": True,
            "content": {t: {"schema": kinds.get(t, {})} for t in r.content_types},
        }
    return None


def _responses(r: RouteContract) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, model in sorted(r.responses.items()):
        schema: dict[str, Any] = _ref(model) if model is not None else {"type": "object"}
        out[str(status)] = _json(model.__doc__ if model else "OK", schema)
    if r.not_ready:
        out["202"] = _json(models.NotReadyResponse.__doc__, _ref(models.NotReadyResponse))
    for status in _error_statuses(r):
        schema = _ref(models.ErrorResponse)
        if status == 400 and r.not_ready:
            either = [_ref(models.ErrorResponse), _ref(models.RepositoryNotReadyError)]
            schema = {"anyOf": either}
        out[str(status)] = _json(_ERRORS[status], schema)
    out["default"] = _json("any other error (500: internal error)", _ref(models.ErrorResponse))
    return dict(sorted(out.items(), key=lambda kv: (kv[0] == "default", kv[0])))


def _error_statuses(r: RouteContract) -> list[int]:
    statuses = {503}
    if r.query or r.body or r.raw_body or "{" in r.path:
        statuses.add(400)
    if r.scope:
        statuses |= {401, 403, 429}
    if r.body or r.raw_body:
        statuses |= {413, 415}
    if r.raw_body:  # the webhook: a bad signature
        statuses.add(401)
    if r.scope == "admin" or r.not_ready or "{" in r.path:
        statuses.add(404)
    if r.scope == "admin" and r.method == "DELETE":
        statuses.add(409)
    return sorted(statuses)


def _json(description: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    """`description`'s first paragraph, on one line."""
    text = " ".join((description or "OK").strip().split("\n\n")[0].split())
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": _REF.format(model=model.__name__)}


def render(routes: Iterable[RouteContract]) -> str:
    """The document as docs/openapi.json holds it."""
    return json.dumps(build(routes), indent=2, ensure_ascii=False) + "\n"
