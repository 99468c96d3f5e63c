"""OnnxMiniLMEmbedder: MiniLM exported to ONNX and quantized to int8 per channel, from the
shipped weights. The export (about 25 s) is kept in pytest's cache like the static model's."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from chalicelib import bootstrap
from chalicelib.adapters import onnx_minilm_embedder
from chalicelib.adapters.minilm_embedder import MiniLMEmbedder
from chalicelib.adapters.onnx_minilm_embedder import OnnxMiniLMEmbedder
from chalicelib.errors import PermanentError
from chalicelib.settings import Settings
from tests.integration.test_static_embedder import model_cache

pytestmark = pytest.mark.slow

TEXTS = [
    "def parse_url(s):\n    return urlsplit(s)",
    "class Flask(App):\n    def route(self, rule, **options):\n        ...",
    "Knead the dough and bake the bread.",
    "x = 1\n" * 400,  # longer than the 128 tokens read
]


@pytest.fixture(scope="module")
def embedder(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder(model_cache(request, tmp_path_factory))


def test_vectors_stay_close_to_float_minilm(embedder: OnnxMiniLMEmbedder) -> None:
    quantized = embedder.embed(TEXTS)
    float32 = MiniLMEmbedder(max_seq_length=128).embed(TEXTS)  # the same network, as much text

    assert quantized.shape == (len(TEXTS), 384) and quantized.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(quantized, axis=1), 1.0, atol=1e-5)
    assert float((quantized * float32).sum(axis=1).min()) > 0.97  # measured 0.985 on chunks


def test_a_text_has_one_vector_whatever_its_batch(embedder: OnnxMiniLMEmbedder) -> None:
    alone = embedder.embed([TEXTS[0]])
    in_batch = embedder.embed(TEXTS)

    np.testing.assert_array_equal(alone[0], in_batch[0])


def test_texts_embedded_in_parallel_threads_get_the_same_vectors(
    embedder: OnnxMiniLMEmbedder,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    parallel = OnnxMiniLMEmbedder(model_cache(request, tmp_path_factory), threads=3)
    texts = TEXTS * 3

    np.testing.assert_array_equal(parallel.embed(texts), embedder.embed(texts))


def test_niced_threads_get_the_same_vectors_at_a_lower_priority(
    embedder: OnnxMiniLMEmbedder,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    background = OnnxMiniLMEmbedder(model_cache(request, tmp_path_factory), threads=2, nice=5)
    np.testing.assert_array_equal(background.embed(TEXTS), embedder.embed(TEXTS))

    seen: list[int] = []

    def probe() -> None:
        onnx_minilm_embedder._yield_cpu(5)
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    worker = threading.Thread(target=probe)
    worker.start()
    worker.join()
    assert seen == [min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5)]
    with pytest.raises(ValueError, match="nice"):
        OnnxMiniLMEmbedder("unused", nice=20)


def test_the_export_is_made_once_and_is_its_own_model(
    embedder: OnnxMiniLMEmbedder,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    embedder.embed(["warm"])
    exported = embedder.model_dir() / "model.onnx"
    written = exported.stat().st_mtime_ns

    onnx_minilm_embedder._SESSIONS.clear()  # a new process: opens the file, exports nothing
    OnnxMiniLMEmbedder(model_cache(request, tmp_path_factory)).embed(["again"])

    assert exported.stat().st_mtime_ns == written
    assert not (exported.parent / "float.onnx").exists()
    assert embedder.model_id == "all-minilm-l6-v2-onnx17-int8pc-r1-128"
    assert embedder.model_id != MiniLMEmbedder().model_id  # close vectors, still never mixed


def test_settings_select_it_with_threads_and_sequence_length() -> None:
    made = bootstrap.embedder(
        Settings(embedder="onnx", embedding_threads=2, embedding_max_tokens=256), print
    )

    assert isinstance(made, OnnxMiniLMEmbedder)
    assert made.model_id == "all-minilm-l6-v2-onnx17-int8pc-r1"


def test_a_missing_model_folder_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="no MiniLM model to derive"):
        OnnxMiniLMEmbedder(str(tmp_path), model_path=str(tmp_path)).embed(["a"])
