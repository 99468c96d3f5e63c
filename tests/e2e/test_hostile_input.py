"""Bad input answers 4xx with a JSON error and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack


def assert_refused(resp: Any, status: int = 400) -> None:
    assert resp.status_code == status, resp.body
    assert resp.json_body["error"]["code"] and resp.json_body["error"]["message"]


@pytest.mark.parametrize("path", ["/repositories/index", "/search", "/chat/query"])
@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe", b"null"])
def test_malformed_json_is_400(stack: Stack, path: str, raw: bytes) -> None:
    assert_refused(stack.post(path, None, raw=raw))


@pytest.mark.parametrize(
    "body",
    [
        {"owner": 3, "repo": "x"},
        {"owner": "a"},
        {"repositoryId": "github:../../etc"},
        {"repositoryId": "github:a:b", "url": "https://github.com/a/b"},
        {"url": "https://x@github.com/a/b"},
        {"url": "relative/path"},
        {"repositoryId": "github:a:b", "force": "yes"},
        {"repositoryId": "github:a:b", "branch": "../../x"},
        {"repositoryId": "github:a:b", "surprise": True},
        {"repositoryId": "github:a:b", "accessToken": 12},
    ],
)
def test_bad_index_requests_are_400_and_store_nothing(
    stack: Stack, body: dict[str, object]
) -> None:
    from chalicelib import bootstrap

    assert_refused(stack.post("/repositories/index", body))
    assert bootstrap.repo_store().get("github:a:b") is None
    assert stack.queue_depth(stack.settings.names.queues["index"]) == 0


def test_local_paths_are_refused_unless_allowed(stack: Stack, tmp_path: Path) -> None:
    from tests.e2e.conftest import with_settings

    with_settings(stack, allow_local_paths=False)
    assert_refused(stack.post("/repositories/index", {"url": str(tmp_path)}))


def test_unknown_local_path_is_refused_without_naming_it(stack: Stack, tmp_path: Path) -> None:
    resp = stack.post("/repositories/index", {"url": str(tmp_path / "nope")})
    assert_refused(resp, 400)
    assert resp.json_body["error"]["code"] == "remote_refused"
    assert str(tmp_path) not in resp.body.decode()


def test_oversized_body_is_413(stack: Stack) -> None:
    big = b'{"repositoryId": "github:a:b", "question": "' + b"x" * 300_000 + b'"}'
    assert_refused(stack.post("/chat/query", None, raw=big), 413)


@pytest.mark.parametrize(
    "path",
    [
        "/repositories/..%2F..%2Fetc/status",
        "/repositories/github:a:b:c:d:../status",
        "/repositories/github%3Aa/status",
    ],
)
def test_hostile_ids_in_paths_are_400(stack: Stack, path: str) -> None:
    resp = stack.get(path)
    assert resp.status_code in (400, 404), resp.body
    assert resp.status_code != 500


@pytest.mark.parametrize(
    "body",
    [
        {"repositoryId": "github:a:b", "query": ""},
        {"repositoryId": "github:a:b", "query": "x", "k": 10_000},
        {"repositoryId": "github:a:b", "query": ["x"]},
        {"repositoryId": "github:a:b", "query": "x", "mode": "telepathy"},
    ],
)
def test_bad_search_requests_are_400(stack: Stack, body: dict[str, object]) -> None:
    assert_refused(stack.post("/search", body))


@pytest.mark.parametrize(
    "body",
    [
        {"repositoryId": "github:a:b"},
        {"repositoryId": "github:a:b", "question": "q", "conversationId": "../../x"},
        {"repositoryId": "github:a:b", "question": "q" * 5000},
    ],
)
def test_bad_chat_requests_are_400(stack: Stack, body: dict[str, object]) -> None:
    assert_refused(stack.post("/chat/query", body))
