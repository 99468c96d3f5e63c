"""OpenAIEmbedder against a small OpenAI-compatible server on 127.0.0.1 started by the test."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from chalicelib.adapters.openai_embedder import OpenAIEmbedder
from chalicelib.errors import PermanentError, TransientError

API_KEY = "sk-test-0123456789"
WIDTH = 8


def vector_for(text: str, width: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [digest[i] - 127.5 for i in range(width)]


def unit(values: list[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v / np.linalg.norm(v)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


# A reply is (status, body bytes) made from the decoded request body.
Responder = Callable[[dict[str, Any]], tuple[int, bytes]]


def embeddings_reply(request: dict[str, Any]) -> tuple[int, bytes]:
    """Hash-based vectors, listed in reverse so the client must order them by `index`."""
    width = request.get("dimensions", WIDTH)
    rows = [
        {"object": "embedding", "index": i, "embedding": vector_for(text, width)}
        for i, text in enumerate(request["input"])
    ]
    doc = {"object": "list", "data": rows[::-1], "model": request["model"]}
    return 200, json.dumps(doc).encode()


@dataclass
class FakeEndpoint:
    url: str
    received: list[Received] = field(default_factory=list)
    responder: Responder = embeddings_reply
    release: threading.Event = field(default_factory=threading.Event)


def handler_for(endpoint: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            endpoint.received.append(Received(self.path, dict(self.headers.items()), body))
            status, payload = endpoint.responder(body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    endpoint = FakeEndpoint(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(endpoint))
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield endpoint
    endpoint.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def embedder(endpoint: FakeEndpoint, **kwargs: Any) -> OpenAIEmbedder:
    return OpenAIEmbedder(f"{endpoint.url}/v1", "test-embed", **kwargs)


def test_orders_rows_by_index_and_learns_the_width(endpoint: FakeEndpoint) -> None:
    texts = ["def parse_url(s):", "class Blueprint:", "bake bread", "import os", "x = 1"]
    emb = embedder(endpoint)
    assert emb.dimensions == 0

    vectors = emb.embed(texts)

    assert vectors.shape == (5, WIDTH)
    assert vectors.dtype == np.float32
    assert emb.dimensions == WIDTH
    np.testing.assert_allclose(vectors, [unit(vector_for(t, WIDTH)) for t in texts], atol=1e-6)


def test_sends_model_input_and_bearer_token(endpoint: FakeEndpoint) -> None:
    embedder(endpoint, api_key=API_KEY).embed(["a", "b"])

    (request,) = endpoint.received
    assert request.path == "/v1/embeddings"
    assert request.body == {"model": "test-embed", "input": ["a", "b"]}
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"


def test_without_a_key_sends_no_authorization(endpoint: FakeEndpoint) -> None:
    OpenAIEmbedder(endpoint.url, "test-embed").embed(["a"])

    (request,) = endpoint.received
    assert request.path == "/v1/embeddings"  # a bare base URL means /v1
    assert "Authorization" not in request.headers


def test_requests_the_given_dimensions(endpoint: FakeEndpoint) -> None:
    emb = embedder(endpoint, dimensions=4)

    vectors = emb.embed(["a"])

    assert endpoint.received[0].body["dimensions"] == 4
    assert vectors.shape == (1, 4)
    assert emb.model_id == "openai-test-embed-4"


def test_splits_texts_into_batches_of_max_batch(endpoint: FakeEndpoint) -> None:
    texts = [f"text {i}" for i in range(7)]

    vectors = embedder(endpoint, max_batch=3).embed(texts)

    assert [r.body["input"] for r in endpoint.received] == [texts[0:3], texts[3:6], texts[6:]]
    np.testing.assert_allclose(vectors, [unit(vector_for(t, WIDTH)) for t in texts], atol=1e-6)


def test_empty_input_makes_no_request(endpoint: FakeEndpoint) -> None:
    assert embedder(endpoint, dimensions=4).embed([]).shape == (0, 4)
    assert endpoint.received == []


def test_rate_limiting_is_transient(endpoint: FakeEndpoint) -> None:
    endpoint.responder = lambda _: (429, b'{"error": {"message": "Rate limit reached"}}')
    with pytest.raises(TransientError, match=r"HTTP 429\): Rate limit reached"):
        embedder(endpoint).embed(["a"])


def test_a_server_error_is_transient(endpoint: FakeEndpoint) -> None:
    endpoint.responder = lambda _: (502, b"<html>Bad Gateway</html>")
    with pytest.raises(TransientError, match="HTTP 502"):
        embedder(endpoint).embed(["a"])


def test_a_bad_request_is_permanent_and_carries_the_message(endpoint: FakeEndpoint) -> None:
    error = {"error": {"message": "This model's maximum context length is 8192 tokens"}}
    endpoint.responder = lambda _: (400, json.dumps(error).encode())
    with pytest.raises(PermanentError, match="HTTP 400\\): This model's maximum context length"):
        embedder(endpoint).embed(["a"])


def test_a_refused_key_never_appears_in_the_error(endpoint: FakeEndpoint) -> None:
    message = f"Incorrect API key provided: {API_KEY}"
    endpoint.responder = lambda _: (401, json.dumps({"error": {"message": message}}).encode())
    with pytest.raises(PermanentError, match="refused the credentials") as caught:
        embedder(endpoint, api_key=API_KEY).embed(["a"])
    assert API_KEY not in str(caught.value)
    assert "Incorrect API key provided: ***" in caught.value.message


def test_a_wrong_number_of_embeddings_is_an_error(endpoint: FakeEndpoint) -> None:
    def one_short(request: dict[str, Any]) -> tuple[int, bytes]:
        _, body = embeddings_reply({**request, "input": request["input"][:-1]})
        return 200, body

    endpoint.responder = one_short
    with pytest.raises(PermanentError, match="returned 2 embeddings for 3 inputs"):
        embedder(endpoint).embed(["a", "b", "c"])


def test_a_reply_that_is_not_json_is_transient(endpoint: FakeEndpoint) -> None:
    endpoint.responder = lambda _: (200, b"<html>gateway login</html>")
    with pytest.raises(TransientError, match="not JSON"):
        embedder(endpoint).embed(["a"])


def test_a_reply_without_data_is_permanent(endpoint: FakeEndpoint) -> None:
    endpoint.responder = lambda _: (200, b'{"object": "list"}')
    with pytest.raises(PermanentError, match="without a `data` list"):
        embedder(endpoint).embed(["a"])


def test_a_slow_server_times_out_as_transient(endpoint: FakeEndpoint) -> None:
    def stall(request: dict[str, Any]) -> tuple[int, bytes]:
        endpoint.release.wait(timeout=10)
        return embeddings_reply(request)

    endpoint.responder = stall
    with pytest.raises(TransientError, match="could not be reached"):
        embedder(endpoint, timeout=0.2).embed(["a"])
    endpoint.release.set()


def test_a_closed_port_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError, match="could not be reached"):
        OpenAIEmbedder(f"http://127.0.0.1:{port}/v1", "m").embed(["a"])


def test_model_id_is_a_safe_key_segment() -> None:
    assert OpenAIEmbedder("http://h/v1", "text-embedding-3-small").model_id == (
        "openai-text-embedding-3-small"
    )
    assert OpenAIEmbedder("http://h/v1", "nomic-ai/Nomic Embed:v1.5", dimensions=256).model_id == (
        "openai-nomic-ai-nomic-embed-v1.5-256"
    )
