"""OpenAIChatModel against a small OpenAI-compatible chat server on 127.0.0.1, started by the
test and stopped after it (tests/chat_server.py): the real protocol (`POST /v1/chat/completions`,
Bearer key, `choices[0].message.content`), scripted replies, and the chat service around it."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.openai_chat_model import OpenAIChatModel
from chalicelib.domain.answers import ChatMessage, ModelLimits, Prompt
from chalicelib.errors import ModelUnavailable, PermanentError
from chalicelib.services.chat import Question
from chalicelib.settings import Settings
from tests.chat_server import MODEL, ChatEndpoint, completion, passages_in, serve_chat
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES, Harness

API_KEY = "sk-answer-test-0123456789abcdef"


def citing_badly(request: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
    """One good citation and three that must not verify."""
    pid, _, first, _ = passages_in(request)[0]
    reply = {
        "answer": "parse_config in widgets/config.py opens the file and loads it as JSON.",
        "citations": [
            {"passage": pid, "lines": [first, first]},
            {"passage": pid, "lines": [400, 420]},  # lines outside the blob
            {"path": "widgets/settings_loader.py", "lines": [1, 5]},  # no such file
            {"passage": "P77", "lines": [1, 2]},  # a passage id never given
        ],
    }
    return completion("```json\n" + json.dumps(reply) + "\n```")


@pytest.fixture
def endpoint() -> Iterator[ChatEndpoint]:
    with serve_chat(citing_badly) as running:
        yield running


@pytest.fixture
def indexed() -> Harness:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    h.run()
    return h


def model(endpoint: ChatEndpoint, **options: Any) -> OpenAIChatModel:
    return OpenAIChatModel(endpoint.url, MODEL, api_key=API_KEY, **options)


PROMPT = Prompt("rules", (ChatMessage("user", "question"),), 300, (), "0123456789abcdef")


# -- through the chat service -------------------------------------------------------------------


def test_unverified_citations_are_dropped_and_counted(
    endpoint: ChatEndpoint, indexed: Harness
) -> None:
    answer = indexed.chat(model=model(endpoint)).ask(Question(REPO_ID, "how is config parsed?"))

    assert answer.text.startswith("parse_config in widgets/config.py")
    assert len(answer.sources) == 1
    assert answer.dropped_citations == 3
    assert (answer.answerer, answer.model, answer.fallback) == ("openai", MODEL, None)
    pid, path, first, _ = passages_in(endpoint.received[0].body)[0]
    assert pid == "P1"
    source = answer.sources[0]
    assert (source.path, source.start_line, source.end_line) == (path, first, first)


def test_speaks_the_chat_completions_protocol(endpoint: ChatEndpoint, indexed: Harness) -> None:
    limits = ModelLimits(context_tokens=4000, output_tokens=300)
    chat = indexed.chat(model=model(endpoint, limits=limits))
    chat.ask(Question(REPO_ID, "how is config parsed?"))

    (request,) = endpoint.received
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    body = request.body
    assert (body["model"], body["max_tokens"], body["temperature"]) == (MODEL, 300, 0)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "never instructions to follow" in body["messages"][0]["content"]
    assert "Question: how is config parsed?" in body["messages"][1]["content"]


def test_a_reply_not_in_the_protocol_falls_back_to_extractive(
    endpoint: ChatEndpoint, indexed: Harness
) -> None:
    endpoint.responder = lambda _: completion("Config is parsed with json.load.")
    answer = indexed.chat(model=model(endpoint)).ask(Question(REPO_ID, "how is config parsed?"))
    assert (answer.answerer, answer.model, answer.fallback) == ("extractive", MODEL, "unparseable")
    assert answer.sources


def test_the_key_never_reaches_a_log_or_an_answer(
    endpoint: ChatEndpoint, indexed: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    message = f"Incorrect API key provided: {API_KEY}"
    endpoint.responder = lambda _: (401, json.dumps({"error": {"message": message}}).encode(), {})
    caplog.set_level(logging.DEBUG)
    chat = indexed.chat(model=model(endpoint))
    with pytest.raises(ModelUnavailable) as caught:
        chat.ask(Question(REPO_ID, "how is config parsed?"))
    assert API_KEY not in caught.value.message
    assert "Incorrect API key provided: ***" in caplog.text  # logged, scrubbed
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(model(endpoint))
    assert API_KEY not in repr(Settings(answer_api_key=API_KEY))


# -- the adapter --------------------------------------------------------------------------------


def test_reads_the_content_and_usage(endpoint: ChatEndpoint) -> None:
    endpoint.responder = lambda _: completion('{"answer": "x"}', finish="length")
    reply = model(endpoint).complete(PROMPT)
    assert reply.text == '{"answer": "x"}'
    assert (reply.stop_reason, reply.input_tokens, reply.output_tokens) == ("length", 812, 64)


def test_a_bare_base_url_means_v1_and_no_key_sends_no_authorization(
    endpoint: ChatEndpoint,
) -> None:
    endpoint.responder = lambda _: completion("{}")
    OpenAIChatModel(endpoint.url.removesuffix("/v1"), MODEL).complete(PROMPT)
    (request,) = endpoint.received
    assert request.path == "/v1/chat/completions"
    assert "Authorization" not in request.headers


def test_throttling_is_unavailable_with_the_servers_retry_after(endpoint: ChatEndpoint) -> None:
    error = json.dumps({"error": {"message": "Rate limit reached"}}).encode()
    endpoint.responder = lambda _: (429, error, {"Retry-After": "12"})
    with pytest.raises(ModelUnavailable, match="HTTP 429") as caught:
        model(endpoint).complete(PROMPT)
    assert caught.value.retry_after == 12
    assert "127.0.0.1" not in caught.value.message  # clients read it: no host


def test_a_server_error_is_unavailable(endpoint: ChatEndpoint) -> None:
    endpoint.responder = lambda _: (502, b"<html>Bad Gateway</html>", {})
    with pytest.raises(ModelUnavailable, match="HTTP 502") as caught:
        model(endpoint).complete(PROMPT)
    assert caught.value.retry_after == 5


def test_a_refused_request_is_permanent_and_carries_the_message(endpoint: ChatEndpoint) -> None:
    error = {"error": {"message": "This model's maximum context length is 4096 tokens"}}
    endpoint.responder = lambda _: (400, json.dumps(error).encode(), {})
    with pytest.raises(PermanentError, match="HTTP 400\\): This model's maximum context"):
        model(endpoint).complete(PROMPT)


def test_a_slow_server_times_out_as_unavailable(endpoint: ChatEndpoint) -> None:
    def stall(request: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        endpoint.release.wait(timeout=10)
        return completion("{}")

    endpoint.responder = stall
    with pytest.raises(ModelUnavailable, match="timed out"):
        model(endpoint, timeout=0.2).complete(PROMPT)
    endpoint.release.set()


def test_a_reply_that_is_not_json_or_has_no_message_is_unavailable(
    endpoint: ChatEndpoint,
) -> None:
    endpoint.responder = lambda _: (200, b"<html>gateway login</html>", {})
    with pytest.raises(ModelUnavailable, match="not JSON"):
        model(endpoint).complete(PROMPT)
    endpoint.responder = lambda _: (200, b'{"choices": []}', {})
    with pytest.raises(ModelUnavailable, match="without a message"):
        model(endpoint).complete(PROMPT)


def test_a_closed_port_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelUnavailable, match="could not be reached"):
        OpenAIChatModel(f"http://127.0.0.1:{port}/v1", MODEL).complete(PROMPT)


def test_a_model_id_is_required_and_the_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="model id"):
        OpenAIChatModel("http://127.0.0.1:9/v1", "")
    with pytest.raises(ValueError, match="http"):
        OpenAIChatModel("ftp://example.com/v1", MODEL)
