"""The OpenAPI document: built from the routes' declarations, checked in, valid 3.1, and with
no route of the Chalice app outside it. The models stay importable by clients."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from pydantic import ValidationError

from app import app
from chalicelib.api import models, openapi, wire
from chalicelib.api.wire import describe, parse_body
from chalicelib.errors import InvalidRequest
from chalicelib.services import chat, search
from chalicelib.services import index_requests as index

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "openapi.json"


def test_checked_in_document_is_what_the_routes_build() -> None:
    assert CHECKED_IN.read_text() == openapi.render(wire.ROUTES), "run `make openapi`"


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi.build(wire.ROUTES)
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_of_the_app_is_in_the_document_and_nothing_else() -> None:
    registered = {(m.lower(), path) for path, by in app.routes.items() for m in by}
    paths = openapi.build(wire.ROUTES)["paths"]
    documented = {(m, path) for path, ops in paths.items() for m in ops}
    assert registered == documented
    assert ("get", "/openapi.json") in documented


def test_keyed_routes_need_the_bearer_scheme_and_open_ones_do_not() -> None:
    paths = openapi.build(wire.ROUTES)["paths"]
    open_routes = {
        (m, p) for p, ops in paths.items() for m, op in ops.items() if op["security"] == []
    }
    assert open_routes == {
        ("get", "/health"),
        ("get", "/openapi.json"),
        ("post", "/webhooks/github"),
    }


def test_every_operation_documents_its_errors_and_query_routes_their_202() -> None:
    paths = openapi.build(wire.ROUTES)["paths"]
    for ops in paths.values():
        for op in ops.values():
            error = op["responses"]["default"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorResponse"}
    chat_202 = paths["/chat/query"]["post"]["responses"]["202"]
    schema = chat_202["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/NotReadyResponse"}


def test_models_import_only_pydantic_and_the_standard_library() -> None:
    tree = ast.parse(Path(models.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"__future__", "typing", "pydantic"}


def test_request_bounds_agree_with_the_services() -> None:
    assert (models.MAX_K, models.MAX_QUERY, models.MAX_SCOPE) == (
        search.MAX_K,
        search.MAX_QUERY,
        search.MAX_SCOPE,
    )
    assert models.MAX_QUESTION == chat.MAX_QUESTION
    assert models.MAX_TOKEN_LENGTH == index.MAX_TOKEN_LENGTH


def test_unknown_fields_are_refused_by_their_wire_names() -> None:
    body = {"repositoryId": "github:a:b", "query": "x", "zeta": 1, "alpha": 2}
    with pytest.raises(InvalidRequest, match="unknown fields: alpha, zeta"):
        parse_body(models.SearchRequest, body)


def test_python_names_are_not_wire_names() -> None:
    with pytest.raises(InvalidRequest, match="unknown fields: repository_id"):
        parse_body(models.ChatRequest, {"repository_id": "github:a:b", "question": "q"})


def test_a_string_is_not_an_integer_and_true_is_not_one() -> None:
    for k in ("5", True):
        with pytest.raises(InvalidRequest, match=r"^k: "):
            parse_body(models.SearchRequest, {"owner": "a", "query": "x", "k": k})


def test_a_missing_field_is_named_and_a_token_never_repeated() -> None:
    with pytest.raises(InvalidRequest, match=r"^question is required$"):
        parse_body(models.ChatRequest, {"repositoryId": "github:a:b"})
    secret = "ghp_" + "x" * 2000
    with pytest.raises(InvalidRequest) as refused:
        parse_body(models.IndexRequest, {"repositoryId": "github:a:b", "accessToken": secret})
    assert "ghp_" not in refused.value.message and "accessToken" in refused.value.message


def test_a_valid_body_dumps_to_the_same_wire_object() -> None:
    body = {"repositoryIds": ["github:a:b"], "query": "cart", "k": 3, "mode": "lexical"}
    assert parse_body(models.SearchRequest, body).dump() == body


def test_a_response_keeps_nulls_it_was_given_and_omits_fields_never_set() -> None:
    given = {"status": "ignored", "reason": "stale", "repositoryId": None}
    assert wire.serialise(models.WebhookResponse, given) == given


def test_describe_names_the_first_problem() -> None:
    with pytest.raises(ValidationError) as refused:
        models.CreateKeyRequest.model_validate({"tenant": "Acme!", "scope": "read"})
    assert describe(refused.value).startswith("tenant: ")


def test_examples_in_the_document_are_valid_requests() -> None:
    schemas = json.loads(openapi.render(wire.ROUTES))["components"]["schemas"]
    for name in ("IndexRequest", "SearchRequest", "ChatRequest", "CreateKeyRequest"):
        (example,) = schemas[name]["examples"]
        parse_body(getattr(models, name), example)
