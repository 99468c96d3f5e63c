"""The client's check calls over real HTTP (the scripted loopback server of
test_client_retries): a 202 that queued a check is an answer, not "still indexing"; waiting
polls until the check ended; a request the API would refuse fails before it is sent."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.client import BadRequest, ClientError
from tests.unit.test_client_retries import Scripted, _client, server  # noqa: F401

ACCEPTED = {
    "checkId": "chk-1700000000000-0a0a0a0a",
    "repositoryId": "github:a:b",
    "status": "queued",
    "sha": "a" * 40,
    "level": "build",
}
STATS = {
    "files": 1, "units": 1, "reused": 0, "toolRuns": 1, "errors": 1, "warnings": 0,
    "undecided": 0, "unchecked": 0, "batches": 1, "skipped": {}, "unsupported": {},
}  # fmt: skip


def view(status: str, diagnostics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **ACCEPTED, "status": status, "paths": ["src"], "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:01.000Z", "message": None, "stats": STATS,
        "diagnostics": diagnostics, "truncated": False,
    }  # fmt: skip


def test_a_queued_check_is_an_answer_and_waiting_polls_until_it_ends(
    server: Scripted,  # noqa: F811
) -> None:
    finding = {"path": "src/a.c", "line": 4, "column": 13, "endLine": 4, "endColumn": 14,
               "severity": "error", "message": "expected expression", "tool": "gcc"}  # fmt: skip
    server.answers = [
        (202, {}, ACCEPTED),
        (200, {}, view("queued", [])),
        (200, {}, view("running", [])),
        (200, {}, view("failed", [finding])),
    ]
    waits: list[float] = []
    client = _client(server, waits)
    accepted = client.request_check("github:a:b", level="build", paths=["src"])
    done = client.wait_for_check("github:a:b", accepted.check_id, poll_seconds=0.25)
    assert done.status == "failed" and done.diagnostics[0].end_column == 14
    assert waits == [0.25, 0.25]
    assert server.seen[0]["body"] == {"level": "build", "paths": ["src"]}
    assert server.seen[1]["path"] == "/repositories/github:a:b/checks/chk-1700000000000-0a0a0a0a"


def test_a_check_still_running_after_the_timeout_is_an_error(server: Scripted) -> None:  # noqa: F811
    server.answers = [(200, {}, view("running", []))]
    with pytest.raises(ClientError, match="still running"):
        _client(server, []).wait_for_check("github:a:b", ACCEPTED["checkId"], timeout=0)


def test_a_bad_level_fails_before_anything_is_sent(server: Scripted) -> None:  # noqa: F811
    with pytest.raises(BadRequest, match="level"):
        _client(server, []).request_check("github:a:b", level="compile")
    assert server.seen == []
