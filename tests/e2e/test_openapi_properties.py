"""The OpenAPI document tested against the running app: schemathesis generates requests for
every operation from docs' own schemas and sends them over real sockets to the local HTTP
front (the app on moto, one repository indexed through the worker pump). Every answer must
be documented for its operation (status, content type, body schema), and none may be a 5xx.

Bounded: CASES_PER_OPERATION derandomized examples per operation (the same every run);
half of a path-parameterised operation's cases name the indexed repository, so its 200s are
checked as well as its refusals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import app
from chalicelib.api import openapi, wire
from chalicelib.local.http_server import HttpServer
from tests.e2e.conftest import Stack
from tests.gitrepo import init_repo

CASES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SCHEMA = schemathesis.openapi.from_dict(openapi.build(wire.ROUTES))
OPERATIONS = sorted(
    (op.path, op.method.upper())
    for op in (result.ok() for result in SCHEMA.get_all_operations() if isinstance(result, Ok))
)
FILES = {
    "shop/cart.py": "class Cart:\n    def total(self):\n        return sum(self.items)\n",
    "README.md": "# Shop\nA cart.\n",
}
SENT: list[int] = []  # statuses, across the module (the case count is its length)


@pytest.fixture(scope="module")
def counted() -> Iterator[list[int]]:
    yield SENT
    statuses = dict(sorted(Counter(SENT).items()))
    print(f"\nschemathesis: {len(SENT)} cases over {len(OPERATIONS)} operations: {statuses}")


@pytest.fixture
def served(stack: Stack, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, an indexed repository's id), the API on a real socket."""
    init_repo(tmp_path / "shop", FILES)
    answer = stack.post("/repositories/index", {"url": str(tmp_path / "shop")})
    assert answer.status_code == 200, answer.json_body
    stack.pump.drain()
    server = HttpServer(app, "127.0.0.1", 0)
    server.start()
    try:
        yield server.url, answer.json_body["repositoryId"]
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_answer_conforms_to_the_document(
    stack: Stack, served: tuple[str, str], counted: list[int], path: str, method: str
) -> None:
    base_url, repository_id = served
    operation = SCHEMA[path][method]
    cases = operation.as_strategy()
    if "{repository_id}" in path:
        pinned = operation.as_strategy(path_parameters={"repository_id": repository_id})
        cases = st.one_of(cases, pinned)
    headers = {"Authorization": f"Bearer {stack.key}"}

    @settings(
        max_examples=CASES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: Any) -> None:
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
        counted.append(response.status_code)

    check()
