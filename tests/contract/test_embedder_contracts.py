"""Embedder: the same assertions on FakeEmbedder and on every real adapter that runs offline.

MiniLM is the real model (loaded once for the module: it takes seconds); the static model and
the int8 ONNX export are derived from it once per checkout into pytest's cache (about 30 s
and 25 s the first time, see tests/integration/test_static_embedder.py). Bedrock and OpenAI
are the real adapters on real clients (boto3, urllib) against a stub endpoint on 127.0.0.1
that answers both wire formats with a vector drawn from a hash of each text, as the
integration tests of those adapters do.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config

from chalicelib.adapters.bedrock_embedder import BedrockEmbedder
from chalicelib.adapters.minilm_embedder import MiniLMEmbedder
from chalicelib.adapters.onnx_minilm_embedder import OnnxMiniLMEmbedder
from chalicelib.adapters.openai_embedder import OpenAIEmbedder
from chalicelib.adapters.static_embedder import StaticEmbedder
from chalicelib.domain.vectors import model_key
from chalicelib.ports import Embedder
from tests.fakes.models import FakeEmbedder
from tests.integration.test_static_embedder import model_cache

TEXTS = [
    "def parse_url(s):\n    return urlsplit(s)",
    "class Blueprint:",
    "",  # a blank chunk still gets a vector
    "Knead the dough and bake the bread.",
    "class Blueprint:",  # the same text twice in one batch
]


def vector_for(text: str, width: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return [float(x) for x in np.random.default_rng(seed).normal(size=width)]


class StubEndpoint:
    """Bedrock's InvokeModel (`POST /model/<id>/invoke`, Titan's body) and OpenAI's
    `POST /v1/embeddings`, on an ephemeral port; `requests` counts the calls."""

    def __init__(self) -> None:
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reply(self, path: str, request: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        if path.startswith("/model/"):
            text = request["inputText"]
            return {"embedding": vector_for(text, request["dimensions"]), "inputTextTokenCount": 1}
        rows = [
            {
                "object": "embedding",
                "index": i,
                "embedding": vector_for(text, request["dimensions"]),
            }
            for i, text in enumerate(request["input"])
        ]
        return {"object": "list", "data": rows[::-1], "model": request["model"]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.dumps(endpoint.reply(self.path, json.loads(self.rfile.read(length))))
                payload = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> StubEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubEndpoint]:
    with StubEndpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder(threads=1, batch_size=4)


@pytest.fixture(scope="module")
def static(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return StaticEmbedder(model_cache(request, tmp_path_factory))


@pytest.fixture(scope="module")
def onnx(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return OnnxMiniLMEmbedder(model_cache(request, tmp_path_factory))


def bedrock(stub: StubEndpoint) -> BedrockEmbedder:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=stub.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    return BedrockEmbedder(client, dimensions=256, concurrency=2)


def openai(stub: StubEndpoint) -> OpenAIEmbedder:
    return OpenAIEmbedder(f"{stub.url}/v1", "test-embed", dimensions=24, max_batch=2)


@pytest.fixture(
    params=[
        "fake",
        pytest.param("minilm", marks=pytest.mark.slow),
        pytest.param("static", marks=pytest.mark.slow),
        pytest.param("onnx", marks=pytest.mark.slow),
        "bedrock",
        "openai",
    ]
)
def embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "fake":
        return FakeEmbedder()
    if request.param in ("minilm", "static", "onnx"):
        model: Embedder = request.getfixturevalue(request.param)
        return model
    stub: StubEndpoint = request.getfixturevalue("stub")
    return bedrock(stub) if request.param == "bedrock" else openai(stub)


def test_model_id_is_a_key_segment_and_dimensions_are_fixed(embedder: Embedder) -> None:
    assert embedder.model_id and model_key(embedder.model_id) == embedder.model_id
    assert isinstance(embedder.dimensions, int) and embedder.dimensions > 0


def test_every_text_gets_a_unit_float32_row_of_the_stated_width(embedder: Embedder) -> None:
    vectors = embedder.embed(TEXTS)

    assert vectors.shape == (len(TEXTS), embedder.dimensions)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[1], vectors[4])  # the same text in one batch


def test_the_same_input_gives_the_same_vectors(embedder: Embedder) -> None:
    first = embedder.embed(TEXTS)

    np.testing.assert_allclose(embedder.embed(TEXTS), first, atol=1e-6)
    assert not np.allclose(first[0], first[1])  # and different texts different ones


def test_a_batch_equals_its_texts_embedded_one_by_one(embedder: Embedder) -> None:
    batch = embedder.embed(TEXTS)
    one_by_one = np.vstack([embedder.embed([text]) for text in TEXTS])
    backwards = embedder.embed(TEXTS[::-1])[::-1]

    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)  # MiniLM pads a batch: float noise
    np.testing.assert_allclose(batch, backwards, atol=1e-5)


def test_empty_input_is_an_empty_matrix_and_asks_no_model(
    embedder: Embedder, request: pytest.FixtureRequest
) -> None:
    stub: StubEndpoint = request.getfixturevalue("stub")
    before = stub.requests

    vectors = embedder.embed([])

    assert vectors.shape == (0, embedder.dimensions)
    assert vectors.dtype == np.float32
    assert stub.requests == before
