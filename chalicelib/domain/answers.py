"""What a chat answer is made of: the passages retrieved for a question, the turns of a
conversation, the prompt a language model is given, its reply and the citations in it.

Plain values: the rules that make and check them live beside (domain/prompting.py,
domain/citations.py, domain/followups.py); ports.py re-exports the ones adapters meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The smallest prompt budget that still holds the rules, a question and a few passages.
MIN_CONTEXT_TOKENS = 1024


@dataclass(frozen=True)
class Passage:
    """Lines `start_line..end_line` (1-based, inclusive) of `path`, and their text."""

    path: str
    start_line: int
    end_line: int
    text: str
    score: float


@dataclass(frozen=True)
class Turn:
    """One question and its answer. `repository_id` binds the conversation to the repository
    it was asked about ("" in turns kept before conversations were bound); `sources` are the
    paths the answer cited, which a follow-up question may be about."""

    question: str
    answer: str
    repository_id: str = ""
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelLimits:
    """A model's budget: `context_tokens` for the whole prompt (rules, conversation,
    passages, question), `output_tokens` for its reply."""

    context_tokens: int = 8000
    output_tokens: int = 1024

    def __post_init__(self) -> None:
        if self.context_tokens < MIN_CONTEXT_TOKENS:
            raise ValueError(f"a model's context budget must be at least {MIN_CONTEXT_TOKENS}")
        if self.output_tokens < 64:
            raise ValueError("a model's reply budget must be at least 64 tokens")


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Prompt:
    """What a language model is sent. `passages` are the ones shown, in id order (P1 first),
    each as shown (a passage cut to fit the budget ends where it was cut); `nonce` marks the
    fences that only the server can write."""

    system: str
    messages: tuple[ChatMessage, ...]
    max_output_tokens: int
    passages: tuple[Passage, ...]
    nonce: str

    def passage(self, passage_id: str) -> Passage | None:
        """The passage shown under `passage_id` (`P1`, `p1` or `1`), None if none was."""
        digits = passage_id.strip().upper().removeprefix("P")
        if not digits.isdigit():
            return None
        index = int(digits) - 1
        return self.passages[index] if 0 <= index < len(self.passages) else None


@dataclass(frozen=True)
class Completion:
    """A model's reply. `stop_reason`: `end` (it finished), `length` (it hit the reply
    budget) or the model's own word for anything else (a guardrail, a content filter)."""

    text: str
    stop_reason: str = "end"
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Citation:
    """A model's claim that lines `start_line..end_line` of passage `passage` support its
    answer (`path`, when the model also named the file)."""

    passage: str
    start_line: int
    end_line: int
    path: str | None = None


@dataclass(frozen=True)
class ModelReply:
    """A reply read as the protocol asks: the prose answer and its citations; `unreadable`
    counts citation entries that named no passage or no lines."""

    answer: str
    citations: tuple[Citation, ...]
    unreadable: int = 0


@dataclass(frozen=True)
class Grounding:
    """The citations that point at lines the model was shown, as spans of those passages
    (first cited first, each once), and how many were dropped."""

    spans: tuple[Passage, ...]
    dropped: int
