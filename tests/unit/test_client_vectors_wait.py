"""A client waiting for `ready` gets it once lexical search works; one that asks for the
vectors too waits until they are no longer `embedding` (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.local.cli import main
from tests.unit.test_client_retries import STATS, Answer, Scripted, _client, _status, server

__all__ = ["server"]  # the fixture, used by name


def _ready(vectors: str) -> Answer:
    body: dict[str, Any] = {**_status("ready"), "vectors": vectors}
    return (200, {}, body)


def test_ready_while_embedding_is_ready(server: Scripted) -> None:
    server.answers = [_ready("embedding")]
    status = _client(server, []).wait_until_indexed("github:a:b")
    assert (status.status, status.vectors) == ("ready", "embedding")


def test_waiting_for_the_vectors_polls_until_they_are_complete(server: Scripted) -> None:
    server.answers = [_ready("embedding"), _ready("embedding"), _ready("complete")]
    waits: list[float] = []
    status = _client(server, waits).wait_until_indexed("github:a:b", vectors=True)
    assert (status.status, status.vectors) == ("ready", "complete") and waits == [0.5, 0.5]


def test_a_status_without_the_field_reads_as_no_vectors(server: Scripted) -> None:
    server.answers = [(200, {}, _status("ready"))]
    status = _client(server, []).wait_until_indexed("github:a:b", vectors=True)
    assert status.vectors == "none"


def test_the_cli_waits_for_the_vectors_only_when_asked(
    server: Scripted, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRATA_API_KEY", "strata_k")
    accepted: Answer = (200, {}, {**_status("indexing"), "message": "queued", "stats": STATS})
    ready = {**_status("ready"), "indexedSha": "a" * 40, "stats": STATS}
    statuses: list[Answer] = [(200, {}, {**ready, "vectors": v}) for v in ("embedding", "complete")]
    for flags, polls, shown in (([], 1, "vectors embedding"), (["--vectors"], 2, "complete")):
        server.answers, server.seen = [accepted, *statuses], []
        assert main(["--api", server.url, "index", "a/b", *flags]) == 0
        assert [s["method"] for s in server.seen] == ["POST"] + ["GET"] * polls
        assert shown in capsys.readouterr().out
