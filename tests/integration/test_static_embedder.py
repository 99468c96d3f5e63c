"""StaticEmbedder: the static model distilled from the shipped all-MiniLM-L6-v2 weights.

Distilling takes about 30 s on two cores (torch import included), so the model is distilled
into pytest's cache folder (`.pytest_cache/d/derived-models`), keyed by the weights and the
recipe as in production: the first run on a checkout pays it, later runs load it in under a
second. Loading is once per process.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from chalicelib import bootstrap
from chalicelib.adapters import static_embedder
from chalicelib.adapters.minilm_embedder import MiniLMEmbedder, bundled_model_path
from chalicelib.adapters.static_embedder import StaticEmbedder, load_static_model
from chalicelib.errors import PermanentError
from chalicelib.settings import Settings

pytestmark = pytest.mark.slow


def model_cache(request: pytest.FixtureRequest, factory: pytest.TempPathFactory) -> str:
    """Where the tests keep models derived from MiniLM (static, ONNX): one folder per
    checkout (pytest's cache), or per session without the cache plugin."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("derived-models") if cache is not None else factory.mktemp("models")
    return str(folder)


@pytest.fixture(scope="session")
def cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return model_cache(request, tmp_path_factory)


@pytest.fixture(scope="module")
def embedder(cache_dir: str) -> StaticEmbedder:
    return StaticEmbedder(cache_dir)


def test_vectors_are_256_float32s_of_unit_length(embedder: StaticEmbedder) -> None:
    vectors = embedder.embed(["def main():\n    pass", "hello", "x" * 5000])

    assert embedder.model_id == "all-minilm-l6-v2-m2v-r1-256"
    assert vectors.shape == (3, 256) and embedder.dimensions == 256
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_text_without_known_tokens_gets_the_unknown_token_vector(
    embedder: StaticEmbedder,
) -> None:
    blank, spaces, word = embedder.embed(["", "  \n\t", "blueprint"])

    np.testing.assert_array_equal(blank, spaces)
    np.testing.assert_allclose(np.linalg.norm(blank), 1.0, atol=1e-5)
    assert not np.allclose(blank, word)


def test_a_code_query_is_closest_to_the_matching_code(embedder: StaticEmbedder) -> None:
    query, config, circle = embedder.embed(
        [
            "load settings from a json config file",
            "def load_config(path):\n    with open(path) as f:\n        return json.load(f)\n",
            "def draw_circle(canvas, x, y, r):\n    canvas.create_oval(x - r, y - r, x + r, y + r)",
        ]
    )

    assert float(query @ config) > float(query @ circle)


def test_the_model_is_distilled_once_into_a_folder_keyed_by_weights_and_recipe(
    embedder: StaticEmbedder, cache_dir: str
) -> None:
    embedder.embed(["warm"])
    folder = embedder.model_dir()
    written = (folder / "model.safetensors").stat().st_mtime_ns
    before = embedder.embed(["class Flask(App):"])

    static_embedder._LOADED.clear()  # a new process: loads the folder, distils nothing
    again = StaticEmbedder(cache_dir).embed(["class Flask(App):"])

    assert folder.parent == Path(cache_dir)
    assert folder.name.startswith(embedder.model_id + "-")
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []
    np.testing.assert_array_equal(before, again)


def test_other_weights_distil_into_another_folder(tmp_path: Path, cache_dir: str) -> None:
    source = Path(bundled_model_path())
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        os.symlink(source / name, copy / name)
    same = StaticEmbedder(cache_dir, model_path=str(copy)).model_dir()
    (copy / "config.json").unlink()
    (copy / "config.json").write_text((source / "config.json").read_text() + "\n")

    changed = StaticEmbedder(cache_dir, model_path=str(copy)).model_dir()

    assert same == StaticEmbedder(cache_dir).model_dir()  # keyed by bytes, not by path
    assert changed != same and changed.parent == same.parent


def test_a_missing_model_folder_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="no MiniLM model to derive"):
        StaticEmbedder(str(tmp_path / "cache"), model_path=str(tmp_path)).embed(["a"])
    assert not (tmp_path / "cache").exists()


def test_distillation_steps_are_deterministic() -> None:
    x = np.random.default_rng(7).normal(size=(50, 12))
    tokens = ["[PAD]", "[unused0]", "[unused1]", "the", "of", "blueprint"]

    first, second = static_embedder._pca(x, 4), static_embedder._pca(x.copy(), 4)
    weights = static_embedder._sif_weights(tokens)

    np.testing.assert_array_equal(first, second)
    assert first.shape == (50, 4)
    assert np.allclose(np.cov(first.T), np.diag(np.diag(np.cov(first.T))), atol=1e-9)
    assert weights[3] < weights[4] < weights[5]  # later (rarer) tokens weigh more
    assert weights[1] == weights[2] == weights[0]  # [unusedN] take no rank of their own


def test_settings_select_the_static_model_and_its_cache(tmp_path: Path) -> None:
    made = bootstrap.embedder(
        Settings(embedder="static", embedding_cache_dir=str(tmp_path)), lambda s: None
    )
    env = Settings.from_env({"STRATA_EMBEDDER": "static", "HOME": "/home/u"})
    xdg = Settings.from_env({"XDG_CACHE_HOME": "/var/cache/u", "HOME": "/home/u"})
    named = Settings.from_env(
        {"STRATA_EMBEDDING_CACHE_DIR": "/srv/models", "STRATA_EMBEDDING_MAX_TOKENS": "128"}
    )

    assert isinstance(made, StaticEmbedder) and made.dimensions == 256
    assert not any(tmp_path.iterdir())  # lazy: nothing distilled until the first embed
    assert env.embedder == "static"
    assert env.embedding_cache_dir == "/home/u/.cache/strata/embedders"
    assert xdg.embedding_cache_dir == "/var/cache/u/strata/embedders"
    assert (named.embedding_cache_dir, named.embedding_max_tokens) == ("/srv/models", 128)


def test_a_shorter_minilm_sequence_is_another_model_id() -> None:
    short = bootstrap.embedder(Settings(embedder="minilm", embedding_max_tokens=128), print)

    assert isinstance(short, MiniLMEmbedder) and short.model_id == "all-minilm-l6-v2-128"
    assert MiniLMEmbedder().model_id == "all-minilm-l6-v2"


def test_loading_is_once_per_process_and_folder(embedder: StaticEmbedder, cache_dir: str) -> None:
    model = embedder.model()

    assert load_static_model(bundled_model_path(), cache_dir, 256) is model
