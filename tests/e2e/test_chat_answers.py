"""POST /chat/query answered by a language model: an OpenAI-compatible server on 127.0.0.1
(tests/chat_server.py) behind the Chalice app on moto. Prose with verified sources and the
model named, the extractive fallback, 503 with Retry-After when the model fails, and the
endpoint's key in no answer and no log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.models import ChatResponse
from tests.chat_server import MODEL, ChatEndpoint, completion, passages_in, serve_chat
from tests.e2e.conftest import Stack, with_settings
from tests.gitrepo import init_repo

API_KEY = "sk-e2e-answer-key-9f8e7d6c5b4a"
FILES: dict[str, str | bytes] = {
    "gadgets/checksum.py": (
        "import hashlib\n\n\n"
        "def compute_checksum(data: bytes) -> str:\n"
        '    """Return the sha256 checksum of an upload."""\n'
        "    return hashlib.sha256(data).hexdigest()\n"
    ),
    "gadgets/upload.py": (
        "from gadgets.checksum import compute_checksum\n\n\n"
        "class UploadHandler:\n"
        "    def handle(self, data: bytes) -> dict:\n"
        "        return {'checksum': compute_checksum(data), 'size': len(data)}\n"
    ),
}


def grounded(request: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
    """Cites the first passage's first line, and a line far outside it."""
    pid, _, first, _ = passages_in(request)[0]
    reply = {
        "answer": "compute_checksum hashes the upload with SHA-256.",
        "citations": [
            {"passage": pid, "lines": [first, first]},
            {"passage": pid, "lines": [90, 99]},
        ],
    }
    return completion(json.dumps(reply))


@pytest.fixture
def rid(stack: Stack, tmp_path: Path) -> str:
    init_repo(tmp_path / "gadgets", FILES)
    resp = stack.post("/repositories/index", {"url": str(tmp_path / "gadgets")})
    assert resp.status_code == 200, resp.json_body
    stack.pump.drain()
    repository_id: str = resp.json_body["repositoryId"]
    return repository_id


@pytest.fixture
def model(stack: Stack) -> Iterator[ChatEndpoint]:
    with serve_chat(grounded) as endpoint:
        with_settings(
            stack,
            answerer="openai",
            answer_url=endpoint.url,
            answer_model=MODEL,
            answer_api_key=API_KEY,
            answer_timeout_seconds=2.0,
        )
        yield endpoint


def ask(stack: Stack, rid: str, **extra: object) -> Any:
    question = {"repositoryId": rid, "question": "how is an upload's checksum computed?"}
    return stack.post("/chat/query", {**question, **extra})


def test_a_model_answers_with_verified_sources_and_is_named(
    stack: Stack, rid: str, model: ChatEndpoint
) -> None:
    resp = ask(stack, rid)
    assert resp.status_code == 200, resp.json_body
    body = resp.json_body
    ChatResponse.model_validate(body)
    assert body["response"] == "compute_checksum hashes the upload with SHA-256."
    assert (body["answerer"], body["model"], body["fallback"]) == ("openai", MODEL, None)
    assert body["droppedCitations"] == 1
    (source,) = body["sources"]
    _, path, first, _ = passages_in(model.received[0].body)[0]
    assert source == {"path": path, "lines": [first, first]}
    follow = ask(stack, rid, conversationId=body["conversationId"])
    assert follow.status_code == 200
    user = model.received[1].body["messages"][1]["content"]
    assert "User asked: how is an upload's checksum computed?" in user  # the conversation


def test_an_unreadable_reply_is_the_extractive_answer_marked_so(
    stack: Stack, rid: str, model: ChatEndpoint
) -> None:
    model.responder = lambda _: completion("It uses hashlib, I believe.")
    body = ask(stack, rid).json_body
    assert (body["answerer"], body["model"], body["fallback"]) == (
        "extractive",
        MODEL,
        "unparseable",
    )
    assert body["sources"]


def test_a_failing_model_is_503_with_retry_after(
    stack: Stack, rid: str, model: ChatEndpoint
) -> None:
    model.responder = lambda _: (503, b'{"error": {"message": "overloaded"}}', {"Retry-After": "9"})
    resp = ask(stack, rid)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "9"
    error = resp.json_body["error"]
    assert error["code"] == "model_unavailable"
    assert error["message"] == "the answer model did not answer (HTTP 503); retry later"


def test_a_model_that_times_out_is_503_with_retry_after(
    stack: Stack, rid: str, model: ChatEndpoint
) -> None:
    def stall(request: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        model.release.wait(timeout=10)
        return grounded(request)

    model.responder = stall
    with_settings(stack, answer_timeout_seconds=0.3)
    resp = ask(stack, rid)
    model.release.set()
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    assert "timed out" in resp.json_body["error"]["message"]


def test_the_endpoints_key_reaches_no_answer_and_no_log(
    stack: Stack,
    rid: str,
    model: ChatEndpoint,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    refusal = {"error": {"message": f"Incorrect API key provided: {API_KEY}"}}
    model.responder = lambda _: (401, json.dumps(refusal).encode(), {})
    resp = ask(stack, rid)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "60"
    assert model.received[0].headers["Authorization"] == f"Bearer {API_KEY}"  # it was sent
    out = capsys.readouterr()
    for text in (resp.body.decode(), json.dumps(dict(resp.headers)), caplog.text, out.out, out.err):
        assert API_KEY not in text
    assert "Incorrect API key provided: ***" in caplog.text
