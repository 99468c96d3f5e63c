"""Models for the unit tier.

FakeEmbedder, a deterministic Embedder: hashed bags of words, unit length. Texts sharing
words get close vectors, so semantic ordering on small fixtures is known by construction;
`calls` records every text embedded; `fail_next` makes the next calls raise TransientError
(a model service that times out).

ScriptedChatModel, a ChatModel whose replies the test writes (`protocol_reply` formats one
in the answer protocol)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from chalicelib.domain.answers import Completion, ModelLimits, Prompt
from chalicelib.domain.tokens import tokenize
from chalicelib.errors import StrataError, TransientError


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


class ScriptedChatModel:
    """A ChatModel for the unit tier: each reply is `script(prompt)` (or the next of a list of
    texts); `prompts` records what it was sent; `fail_with` makes every call raise."""

    name = "scripted"

    def __init__(
        self,
        script: Callable[[Prompt], str] | Sequence[str],
        *,
        model_id: str = "scripted-1",
        limits: ModelLimits | None = None,
    ) -> None:
        self.model_id = model_id
        self.limits = limits or ModelLimits()
        self.prompts: list[Prompt] = []
        self.fail_with: StrataError | None = None
        self._script = script
        self._replies = 0

    def complete(self, prompt: Prompt) -> Completion:
        self.prompts.append(prompt)
        if self.fail_with is not None:
            raise self.fail_with
        if callable(self._script):
            return Completion(self._script(prompt))
        text = self._script[min(self._replies, len(self._script) - 1)]
        self._replies += 1
        return Completion(text)


def protocol_reply(answer: str, *citations: tuple[str, int, int] | dict[str, object]) -> str:
    """A reply in the answer protocol: (passage id, first line, last line) or a raw entry."""
    entries = [
        c if isinstance(c, dict) else {"passage": c[0], "lines": [c[1], c[2]]} for c in citations
    ]
    return json.dumps({"answer": answer, "citations": entries})


def cite_first_passage(prompt: Prompt) -> str:
    """A well-behaved model: explains in prose and cites the first lines shown of P1."""
    if not prompt.passages:
        return protocol_reply("The repository does not say.")
    p = prompt.passages[0]
    end = min(p.end_line, p.start_line + 2)
    return protocol_reply(f"It is in {p.path}.", ("P1", p.start_line, end))
