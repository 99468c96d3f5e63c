"""The client's commit call over real HTTP (the scripted loopback server of
test_client_retries): files go as text or base64, every attempt of one call carries the same
Idempotency-Key (so a 503, or a request that got no answer, is sent again safely), and a 409
or 422 is an error that carries what the API said."""

from __future__ import annotations

import base64
import socket

import pytest

from chalicelib.client import (
    BadRequest,
    Conflict,
    StrataClient,
    Unprocessable,
    Unreachable,
    deletion,
    file_change,
)
from tests.unit.test_client_retries import Scripted, _client, server  # noqa: F401

BASE = "a" * 40
COMMITTED = {
    "repositoryId": "github:a:b",
    "branch": "main",
    "baseSha": BASE,
    "sha": "b" * 40,
    "indexStatus": "indexing",
    "checkId": None,
    "message": "committed bbbbbbbbbbbb on main",
}


def commit(client: StrataClient, key: str | None = None) -> object:
    return client.commit(
        "github:a:b",
        branch="main",
        base_sha=BASE,
        message="fix",
        author=("Ada", "ada@example.com"),
        changes=[
            file_change("a.py", b"x = 1\n"),
            file_change("logo.png", b"\x89PNG"),
            deletion("old.py"),
        ],
        check="syntax",
        idempotency_key=key,
    )


def test_files_go_as_text_or_base64_and_every_attempt_has_the_same_key(
    server: Scripted,  # noqa: F811
) -> None:
    server.answers = [(503, {"Retry-After": "1"}, {"error": {"code": "unavailable",
                                                             "message": "busy"}}),
                      (200, {}, COMMITTED)]  # fmt: skip
    waits: list[float] = []
    answer = commit(_client(server, waits))
    assert answer.sha == "b" * 40 and waits == [1.0]  # type: ignore[attr-defined]
    first, second = server.seen
    assert first["idempotency_key"] == second["idempotency_key"] and first["idempotency_key"]
    assert first["body"]["changes"] == [
        {"path": "a.py", "content": "x = 1\n"},
        {"path": "logo.png", "contentBase64": base64.b64encode(b"\x89PNG").decode()},
        {"path": "old.py", "delete": True},
    ]
    assert first["body"]["author"] == {"name": "Ada", "email": "ada@example.com"}
    commit(_client(server, []), key="my-key")
    assert server.seen[-1]["idempotency_key"] == "my-key"


def test_a_moved_branch_and_a_failed_check_are_errors_with_their_details(
    server: Scripted,  # noqa: F811
) -> None:
    server.answers = [
        (409, {}, {"error": {"code": "branch_moved", "message": "moved"}, "currentSha": "c" * 40})
    ]
    with pytest.raises(Conflict) as moved:
        commit(_client(server, []))
    assert moved.value.current_sha == "c" * 40
    finding = {"path": "a.py", "line": 1, "column": 5, "endLine": 1, "endColumn": 6,
               "severity": "error", "message": "invalid syntax", "tool": "python"}  # fmt: skip
    server.answers = [(422, {}, {"error": {"code": "check_failed", "message": "no"},
                                 "diagnostics": [finding], "truncated": False})]  # fmt: skip
    with pytest.raises(Unprocessable) as failed:
        commit(_client(server, []))
    assert failed.value.diagnostics == [finding]


def test_a_commit_that_got_no_answer_is_sent_again_but_an_index_request_is_not() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # nothing listens there
    waits: list[float] = []
    client = StrataClient(url, api_key="strata_k", retries=2, sleep=waits.append)
    with pytest.raises(Unreachable):
        commit(client)
    assert waits == [0.5, 1.0]
    waits.clear()
    with pytest.raises(Unreachable):
        client.index_repository(url="https://github.com/a/b")
    assert waits == []


def test_a_request_the_api_would_refuse_fails_before_it_is_sent(
    server: Scripted,  # noqa: F811
) -> None:
    with pytest.raises(BadRequest, match="base_sha"):
        _client(server, []).commit(
            "github:a:b", branch="main", base_sha="HEAD", message="m",
            author=("A", "a@b"), changes=[deletion("x")],
        )  # fmt: skip
    assert server.seen == []
