"""What each route declares about its wire contract, and the two crossings of it: a JSON body
validated into its request model, a result serialised through its response model.

`endpoint` (api/http.py) records a `RouteContract` for every route it registers; the
OpenAPI document (api/openapi.py) is built from these records, so a route cannot exist
outside the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.api.models import RequestModel, ResponseModel
from chalicelib.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)
Responses = Mapping[int, type[ResponseModel] | None]
_MAX_MESSAGE = 200


@dataclass(frozen=True)
class Int:
    """A query parameter holding an integer in [low, high], in ASCII digits."""

    low: int
    high: int
    default: int


@dataclass(frozen=True)
class Text:
    """A query parameter holding text of at most `max_length` characters."""

    max_length: int
    default: str | None = None


Param = Int | Text


@dataclass(frozen=True)
class Header:
    """A request header a route reads: optional, at most `max_length` characters matching
    `pattern` when sent (else 400 before the route body runs)."""

    pattern: str
    max_length: int
    description: str = ""


@dataclass(frozen=True)
class QueryParam:
    """A declared query parameter, as the spec shows it."""

    name: str
    kind: str  # "integer" | "string"
    low: int | None = None
    high: int | None = None
    max_length: int | None = None
    default: int | str | None = None


@dataclass(frozen=True)
class RouteContract:
    path: str
    method: str
    name: str
    summary: str
    scope: str | None  # the scope label the route needs; None: open
    query: tuple[QueryParam, ...] = ()
    body: type[RequestModel] | None = None
    raw_body: bool = False
    content_types: tuple[str, ...] = ()
    responses: Mapping[int, type[ResponseModel] | None] = field(default_factory=dict)
    not_ready: bool = False  # may answer 202 (indexing) or 400 (idle/error)
    headers: Mapping[str, Header] = field(default_factory=dict)  # request headers it reads


ROUTES: list[RouteContract] = []


def record(contract: RouteContract) -> None:
    """Keep one record per (method, path): a module imported twice records once."""
    key = (contract.method, contract.path)
    ROUTES[:] = [r for r in ROUTES if (r.method, r.path) != key]
    ROUTES.append(contract)


def declare(
    route: Callable[..., Any],
    *,
    path: str,
    method: str,
    params: Mapping[str, Param],
    model: type[RequestModel] | None,
    kind: Literal["json", "raw"] | None,
    types: list[str] | None,
    scope: Any,
    responses: Responses | None,
    not_ready: bool,
    headers: Mapping[str, Header] | None = None,
) -> None:
    """Record what `endpoint` registered (`scope`: a Scope with a `label`, or None)."""
    query = tuple(
        QueryParam(name, "integer", p.low, p.high, default=p.default)
        if isinstance(p, Int)
        else QueryParam(name, "string", max_length=p.max_length, default=p.default)
        for name, p in params.items()
    )
    doc = route.__doc__ or route.__name__.replace("_", " ")
    record(
        RouteContract(
            path=path,
            method=method,
            name=route.__name__,
            summary=doc.strip().split("\n")[0],
            scope=scope.label if scope is not None else None,
            query=query,
            body=model,
            raw_body=kind == "raw",
            content_types=tuple(types or ()),
            responses=dict(responses or {}),
            not_ready=not_ready,
            headers=dict(headers or {}),
        )
    )


def parse_body(model: type[M], body: Mapping[str, Any]) -> M:
    """`body` validated into `model` by its wire (camelCase) names only; InvalidRequest
    (400) says what is wrong without repeating the value (it may be a token)."""
    try:
        return model.model_validate(body, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return f"unknown fields: {', '.join(unknown)}"[:_MAX_MESSAGE]
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "request body"
    if first["type"] == "missing":
        return f"{where} is required"[:_MAX_MESSAGE]
    return f"{where}: {first['msg']}"[:_MAX_MESSAGE]


def serialise(model: type[ResponseModel], data: Mapping[str, Any] | ResponseModel) -> Any:
    """The JSON object `model` makes of `data` (a mismatch is a bug: it raises, a 500)."""
    shaped = data if isinstance(data, model) else model.model_validate(data)
    return shaped.dump()
