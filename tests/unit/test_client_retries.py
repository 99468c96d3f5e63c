"""The client over real HTTP: a loopback server answers scripted sequences (429, 503, 200...)
and records what it was sent; the client's sleep is a list, so nothing waits."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.api.models import HealthResponse
from chalicelib.client import (
    BadRequest,
    ClientError,
    Forbidden,
    NotFound,
    NotReady,
    RateLimited,
    ServerError,
    StrataClient,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from chalicelib.client.transport import Reply

Answer = tuple[int, dict[str, str], Any]  # status, headers, JSON body


@dataclass
class Scripted:
    """What the server will answer, in order (the last answer repeats), and what it got."""

    answers: list[Answer] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def _handler(script: Scripted) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            script.seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                    "body": json.loads(raw) if raw else None,
                }
            )
            status, headers, body = (
                script.answers.pop(0) if len(script.answers) > 1 else script.answers[0]
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Scripted]:
    script = Scripted()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield script
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _client(script: Scripted, waits: list[float], retries: int = 3) -> StrataClient:
    return StrataClient(script.url, api_key="strata_k", retries=retries, sleep=waits.append)


FRESH = {"indexedSha": "a" * 40, "headSha": "a" * 40, "stale": False, "lagSeconds": 0}
STATS = {
    "totalFiles": 3,
    "totalSize": 10,
    "languages": {},
    "extensions": {},
    "skipped": {},
    "chunks": 3,
    "blobsParsed": 3,
    "blobsReused": 0,
    "chunksEmbedded": 0,
    "vectorsReused": 0,
    "embeddingModel": None,
}


def _status(state: str) -> dict[str, Any]:
    return {
        "repositoryId": "github:a:b",
        "status": state,
        "branch": "main",
        "indexedAt": None,
        "indexedSha": None,
        "headSha": None,
        "lagSeconds": 0,
        "stats": STATS,
        "progress": {"filesProcessed": 1, "numFiles": 3, "filesEmbedded": None},
        "error": None,
    }


OK: Answer = (200, {}, {"status": "ok", "service": "strata"})
LIMITED: Answer = (
    429,
    {"Retry-After": "7"},
    {"error": {"code": "rate_limited", "message": "slow"}},
)
BUSY: Answer = (503, {}, {"error": {"code": "unavailable", "message": "try again"}})


def test_retries_a_429_after_the_retry_after_it_was_given(server: Scripted) -> None:
    server.answers = [LIMITED, LIMITED, OK]
    waits: list[float] = []
    assert _client(server, waits).health() == HealthResponse(status="ok", service="strata")
    assert waits == [7.0, 7.0]
    assert len(server.seen) == 3


def test_retries_a_503_without_retry_after_on_a_doubling_backoff(server: Scripted) -> None:
    server.answers = [BUSY, BUSY, BUSY, OK]
    waits: list[float] = []
    assert _client(server, waits).health().status == "ok"
    assert waits == [0.5, 1.0, 2.0]


def test_gives_up_after_the_retries_with_the_last_error(server: Scripted) -> None:
    server.answers = [LIMITED]
    waits: list[float] = []
    with pytest.raises(RateLimited, match=r"slow \(HTTP 429\)") as caught:
        _client(server, waits, retries=2).health()
    assert caught.value.status == 429 and caught.value.retry_after == 7.0
    assert caught.value.code == "rate_limited"
    assert waits == [7.0, 7.0] and len(server.seen) == 3


def test_a_wait_longer_than_the_limit_is_not_made(server: Scripted) -> None:
    server.answers = [(429, {"Retry-After": "3600"}, {"error": {"message": "hour"}})]
    waits: list[float] = []
    with pytest.raises(RateLimited) as caught:
        _client(server, waits).health()
    assert caught.value.retry_after == 3600.0 and waits == [] and len(server.seen) == 1


def test_retry_after_may_be_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert Reply(429, None, {"retry-after": header}).retry_after(lambda: now) == 30.0
    assert Reply(429, None, {"Retry-After": "soon"}).retry_after(lambda: now) is None
    assert Reply(429, None, {}).retry_after(lambda: now) is None


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequest), (401, Unauthorized), (403, Forbidden), (404, NotFound), (500, ServerError)],
)
def test_other_errors_are_not_retried_and_raise_by_type(
    server: Scripted, status: int, error: type[Exception]
) -> None:
    server.answers = [(status, {}, {"error": {"code": "x", "message": "no"}}), OK]
    waits: list[float] = []
    with pytest.raises(error, match=rf"no \(HTTP {status}\)"):
        _client(server, waits).health()
    assert waits == [] and len(server.seen) == 1


def test_a_503_after_the_retries_is_unavailable(server: Scripted) -> None:
    server.answers = [BUSY]
    with pytest.raises(Unavailable, match="try again"):
        _client(server, [], retries=0).health()
    assert len(server.seen) == 1


def test_sends_the_key_and_the_typed_request(server: Scripted) -> None:
    answer = {"repositoryIds": ["github:a:b"], "query": "where", "mode": "symbol", "hits": []}
    server.answers = [(200, {}, answer)]
    _client(server, []).search("where", repository_ids=["github:a:b"], mode="symbol", k=3)
    (sent,) = server.seen
    assert sent["method"] == "POST" and sent["path"] == "/search"
    assert sent["authorization"] == "Bearer strata_k"
    assert sent["body"] == {
        "repositoryIds": ["github:a:b"],
        "query": "where",
        "k": 3,
        "mode": "symbol",
    }


def test_path_and_query_parameters_are_escaped(server: Scripted) -> None:
    node = {"name": "pkg/mod.py", "kind": "file", "path": "pkg/mod.py", "lines": [1, 9]}
    rid = {"repositoryId": "github:a:b", **FRESH}
    around = {**rid, "node": node, "direction": "dependents", "depth": 2, "nodes": []}
    server.answers = [(200, {}, around), (200, {}, {**rid, "symbols": [node]})]
    client = _client(server, [])
    assert client.graph_node("github:a:b", "pkg/mod.py", direction="dependents", depth=2).depth == 2
    found = client.symbols("local:x-1", "pub lish", kind="function", limit=5)
    assert found.symbols[0].lines == [1, 9]
    assert [s["path"] for s in server.seen] == [
        "/repositories/github:a:b/graph/nodes/pkg%2Fmod.py?direction=dependents&depth=2",
        "/repositories/local:x-1/symbols?q=pub+lish&kind=function&limit=5",
    ]


def test_a_repository_still_indexing_is_not_ready(server: Scripted) -> None:
    server.answers = [(202, {}, {"status": "indexing", "message": "m", "estimatedTime": 12})]
    with pytest.raises(NotReady, match="still indexing") as caught:
        _client(server, []).ask("github:a:b", "why?")
    assert caught.value.state == "indexing" and caught.value.estimated_seconds == 12.0
    idle = {"status": "idle", "error": {"code": "repository_idle", "message": "not indexed"}}
    server.answers = [(400, {}, idle)]
    with pytest.raises(NotReady, match=r"not indexed \(HTTP 400\)") as second:
        _client(server, []).ask("github:a:b", "why?")
    assert second.value.state == "idle"


def test_waits_until_indexed_polling_with_the_injected_sleep(server: Scripted) -> None:
    indexing: Answer = (200, {}, _status("indexing"))
    server.answers = [indexing, indexing, (200, {}, _status("ready"))]
    waits: list[float] = []
    seen: list[tuple[str, bool]] = []
    status = _client(server, waits).wait_until_indexed(
        "github:a:b", on_status=lambda s, done: seen.append((s.status, done))
    )
    assert status.status == "ready" and status.progress.num_files == 3
    assert seen == [("indexing", False), ("indexing", False), ("ready", True)]
    assert waits == [0.5, 0.5]


def _never_sleep(seconds: float) -> None:
    raise AssertionError(f"a refused connection is not retried (asked to sleep {seconds} s)")


def test_nothing_listening_is_unreachable() -> None:
    with pytest.raises(Unreachable, match=r"cannot reach the Strata API at http://127.0.0.1:9 "):
        StrataClient("http://127.0.0.1:9", retries=3, sleep=_never_sleep).health()


def test_an_answer_of_the_wrong_shape_is_an_error_not_a_dict(server: Scripted) -> None:
    server.answers = [(200, {}, {"status": "ready"})]
    with pytest.raises(ClientError, match="unexpected StatusResponse"):
        _client(server, []).status("github:a:b")


def test_a_request_the_models_refuse_is_not_sent(server: Scripted) -> None:
    server.answers = [OK]
    with pytest.raises(BadRequest, match="invalid SearchRequest: mode") as caught:
        _client(server, []).search("q", repository_id="github:a:b", mode="fuzzy")
    assert caught.value.status is None and server.seen == []
