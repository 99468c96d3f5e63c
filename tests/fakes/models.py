"""A deterministic Embedder for the unit tier: hashed bags of words, unit length.

Texts sharing words get close vectors, so semantic ordering on small fixtures is known by
construction; `calls` records every text embedded; `fail_next` makes the next calls raise
TransientError (a model service that times out)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from chalicelib.domain.tokens import tokenize
from chalicelib.errors import TransientError


class FakeEmbedder:
    def __init__(self, model_id: str = "fake-bow-64", dimensions: int = 64) -> None:
        self.model_id = model_id
        self.dimensions = dimensions
        self.calls: list[str] = []
        self.fail_next = 0

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise TransientError("the embedding model timed out")
        self.calls.extend(texts)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in tokenize(text):
                digest = hashlib.blake2b(term.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "big") % self.dimensions] += 1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else 1.0 / np.sqrt(self.dimensions)
        return out
