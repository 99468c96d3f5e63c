"""BedrockEmbedder on a real bedrock-runtime client held by botocore's Stubber (no AWS calls),
plus a thread-safe fake client for the concurrent path (the Stubber's queue is ordered)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber

from chalicelib.adapters.bedrock_embedder import MAX_CHARS, BedrockEmbedder
from chalicelib.errors import PermanentError, TransientError
from tests.integration.conftest import use_fake_credentials

MODEL = "amazon.titan-embed-text-v2:0"


class JsonBody:
    """Equal to the bytes of a JSON document equal to `doc` (key order aside)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes) and json.loads(other) == self.doc

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"JsonBody({self.doc!r})"


def vector_for(text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return [float(x) for x in np.random.default_rng(seed).normal(size=dimensions)]


def unit(values: list[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v / np.linalg.norm(v)


def reply(embedding: list[float]) -> dict[str, Any]:
    raw = json.dumps({"embedding": embedding, "inputTextTokenCount": 3}).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def expect(text: str, dimensions: int = 1024) -> dict[str, Any]:
    return {
        "modelId": MODEL,
        "contentType": "application/json",
        "accept": "application/json",
        "body": JsonBody({"inputText": text, "dimensions": dimensions, "normalize": True}),
    }


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    use_fake_credentials(monkeypatch)
    return boto3.client("bedrock-runtime", region_name="us-east-1")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def test_sends_one_titan_request_per_text_and_keeps_their_order(
    client: Any, stubber: Stubber
) -> None:
    texts = ["def parse_url(s):", "class Blueprint:", "bake the bread"]
    for text in texts:
        stubber.add_response("invoke_model", reply(vector_for(text, 1024)), expect(text))

    vectors = BedrockEmbedder(client, concurrency=1).embed(texts)

    assert vectors.shape == (3, 1024)
    assert vectors.dtype == np.float32
    for row, text in zip(vectors, texts, strict=True):
        np.testing.assert_allclose(row, unit(vector_for(text, 1024)), atol=1e-6)


def test_renormalizes_rows_and_honours_smaller_dimensions(client: Any, stubber: Stubber) -> None:
    stubber.add_response("invoke_model", reply([3.0, 4.0] + [0.0] * 254), expect("x", 256))

    vectors = BedrockEmbedder(client, dimensions=256, concurrency=1).embed(["x"])

    assert vectors.shape == (1, 256)
    np.testing.assert_allclose(vectors[0, :2], [0.6, 0.8], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_truncates_long_text_and_sends_a_blank_one_as_a_space(
    client: Any, stubber: Stubber
) -> None:
    long_text = "x" * (MAX_CHARS + 500)
    stubber.add_response("invoke_model", reply([1.0] * 1024), expect("x" * MAX_CHARS))
    stubber.add_response("invoke_model", reply([1.0] * 1024), expect(" "))

    vectors = BedrockEmbedder(client, concurrency=1).embed([long_text, ""])

    assert vectors.shape == (2, 1024)


def test_empty_input_makes_no_call(client: Any, stubber: Stubber) -> None:
    assert BedrockEmbedder(client).embed([]).shape == (0, 1024)


def test_throttling_is_transient(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error(
        "invoke_model",
        service_error_code="ThrottlingException",
        service_message="Too many requests, please wait before trying again.",
        http_status_code=429,
    )
    with pytest.raises(TransientError, match=r"unavailable \(ThrottlingException\)"):
        BedrockEmbedder(client, concurrency=1).embed(["a"])


def test_service_unavailable_is_transient(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error(
        "invoke_model", service_error_code="ServiceUnavailableException", http_status_code=503
    )
    with pytest.raises(TransientError, match="retry later"):
        BedrockEmbedder(client, concurrency=1).embed(["a"])


def test_access_denied_is_a_permanent_error_that_says_so(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error(
        "invoke_model",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:sts::123456789012:assumed-role/x is not authorized",
        http_status_code=403,
    )
    with pytest.raises(PermanentError, match="access to the model was denied") as caught:
        BedrockEmbedder(client, concurrency=1).embed(["a"])
    assert MODEL in caught.value.message
    assert "123456789012" not in caught.value.message
    assert "An error occurred" not in caught.value.message


def test_an_unknown_model_is_a_permanent_error(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error(
        "invoke_model", service_error_code="ResourceNotFoundException", http_status_code=404
    )
    with pytest.raises(PermanentError, match="does not exist in this region"):
        BedrockEmbedder(client, concurrency=1).embed(["a"])


def test_a_validation_error_carries_the_service_message(client: Any, stubber: Stubber) -> None:
    stubber.add_client_error(
        "invoke_model",
        service_error_code="ValidationException",
        service_message="Malformed input request: expected maxLength: 50000",
        http_status_code=400,
    )
    with pytest.raises(PermanentError, match="rejected as invalid: Malformed input request"):
        BedrockEmbedder(client, concurrency=1).embed(["a"])


def test_a_vector_of_the_wrong_width_is_permanent(client: Any, stubber: Stubber) -> None:
    stubber.add_response("invoke_model", reply([1.0] * 512), expect("a"))
    with pytest.raises(PermanentError, match="returned 512 values, expected 1024"):
        BedrockEmbedder(client, concurrency=1).embed(["a"])


def test_an_unreachable_endpoint_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch)
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 0}),
    )
    with pytest.raises(TransientError, match="could not be reached"):
        BedrockEmbedder(client, concurrency=1).embed(["a"])


def test_model_id_is_a_safe_key_segment(client: Any) -> None:
    assert BedrockEmbedder(client).model_id == "bedrock-amazon.titan-embed-text-v2-0-1024"
    assert BedrockEmbedder(client, "Amazon.Titan_X:1", 512).model_id == (
        "bedrock-amazon.titan-x-1-512"
    )


class SlowFakeBedrock:
    """Answers later texts first, so a pool that lost the input order would be caught."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def invoke_model(self, **params: Any) -> dict[str, Any]:
        text = json.loads(params["body"])["inputText"]
        with self.lock:
            self.seen.append(text)
        time.sleep(0.002 * (self.count - int(text.split()[-1])))
        return reply(vector_for(text, 256))


def test_concurrent_calls_keep_the_input_order() -> None:
    texts = [f"chunk number {i}" for i in range(12)]
    fake = SlowFakeBedrock(len(texts))

    vectors = BedrockEmbedder(fake, dimensions=256, concurrency=4).embed(texts)

    assert sorted(fake.seen) == sorted(texts)
    expected = np.stack([unit(vector_for(t, 256)) for t in texts])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
