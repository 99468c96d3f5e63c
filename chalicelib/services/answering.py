"""Writing a chat answer from retrieved passages: through a language model when one is
configured, grounded and checked; else (and as the fallback) by the extractive answerer.

The model path (ADR 20): build the fenced prompt within the model's budget, ask the model,
read its JSON reply, keep each citation only if it points at lines the model was shown and
those lines are in the blob at the indexed commit; count the rest as dropped. A reply that
cannot be read, or that repeats the system prompt, is replaced by the extractive answer
(marked as such). A model that fails or times out is a ModelUnavailable (503 with
Retry-After): an answer is never made up around it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib import observability
from chalicelib.domain.answers import Completion, Passage, Prompt, Turn
from chalicelib.domain.citations import ground, parse_reply
from chalicelib.domain.prompting import build_prompt, leaks_system_prompt
from chalicelib.domain.verification import span_is_valid
from chalicelib.errors import ModelUnavailable, StrataError
from chalicelib.observability import Metric
from chalicelib.ports import Answerer, ChatModel
from chalicelib.services.generations import LoadedGeneration

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
UNPARSEABLE = "unparseable"  # the model's reply was not the JSON object asked for
LEAKED_PROMPT = "leaked_prompt"  # the reply repeated the system prompt
NO_VERIFIED_SOURCE = "No source in this repository could be verified for this answer."
# When a model refuses for good (credentials, unknown model), asking again soon won't help.
_PERMANENT_RETRY_AFTER = 60


@dataclass(frozen=True)
class GroundedAnswer:
    """An answer and its verified sources. `answerer` wrote the text (`extractive` on a
    fallback); `model` is the model asked (None without one); `fallback` says why the
    extractive answer replaced the model's; `model_seconds` is the time spent in the model."""

    text: str
    sources: list[Passage]
    dropped_citations: int
    answerer: str
    model: str | None = None
    fallback: str | None = None
    model_seconds: float = 0.0


def verified_sources(loaded: LoadedGeneration, passages: Sequence[Passage]) -> list[Passage]:
    """Keep a passage only if its lines are really in the blob at the indexed commit."""
    kept = []
    for p in passages:
        entry = loaded.files.get(p.path)
        text = loaded.lexical.file_text(p.path)
        if entry and span_is_valid(text, entry.oid, p.start_line, p.end_line):
            kept.append(p)
    return kept


class Answering:
    """`extractive` answers when there is no model, and replaces an unreadable reply."""

    def __init__(self, *, extractive: Answerer, model: ChatModel | None = None) -> None:
        self._extractive = extractive
        self._model = model

    def answer(
        self,
        loaded: LoadedGeneration,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[Turn],
    ) -> GroundedAnswer:
        if self._model is None:
            return self._extracted(loaded, question, passages, history)
        prompt = build_prompt(
            question, history, passages, self._model.limits, nonce=secrets.token_hex(8)
        )
        started = time.perf_counter()
        completion = self._complete(self._model, prompt)
        spent = time.perf_counter() - started
        observability.seconds(Metric.ANSWER_MODEL_DURATION, spent)
        reply = parse_reply(completion.text)
        reason = UNPARSEABLE if reply is None else None
        if leaks_system_prompt(completion.text, prompt):  # the whole reply, not its answer
            reason = LEAKED_PROMPT
        if reply is None or reason is not None:
            observability.count(Metric.ANSWER_FALLBACKS)
            log.warning("answer model reply replaced by the extractive answer: %s", reason)
            fallback = self._extracted(loaded, question, passages, history)
            return _replace_model(fallback, self._model.model_id, reason, spent)
        grounding = ground(reply, prompt)
        sources = verified_sources(loaded, grounding.spans)
        dropped = grounding.dropped + len(grounding.spans) - len(sources)
        observability.count(Metric.CITATIONS_DROPPED, dropped)
        return GroundedAnswer(
            text=_with_note(reply.answer, sources),
            sources=sources,
            dropped_citations=dropped,
            answerer=self._model.name,
            model=self._model.model_id,
            model_seconds=spent,
        )

    def _extracted(
        self,
        loaded: LoadedGeneration,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[Turn],
    ) -> GroundedAnswer:
        answer = self._extractive.answer(question, passages, history)
        cited = [passages[i] for i in dict.fromkeys(answer.cited) if 0 <= i < len(passages)]
        sources = verified_sources(loaded, cited)
        dropped = len(answer.cited) - len(sources)
        return GroundedAnswer(_with_note(answer.text, sources), sources, dropped, EXTRACTIVE)

    @staticmethod
    def _complete(model: ChatModel, prompt: Prompt) -> Completion:
        try:
            return model.complete(prompt)
        except ModelUnavailable as exc:
            observability.count(Metric.ANSWER_MODEL_FAILURES)
            log.warning("answer model unavailable: %s", exc.message)
            raise ModelUnavailable(
                f"the answer model did not answer ({exc.message}); retry later",
                retry_after=exc.retry_after,
            ) from exc
        except StrataError as exc:
            observability.count(Metric.ANSWER_MODEL_FAILURES)
            log.error("answer model refused the request: %s", exc.message)
            raise ModelUnavailable(
                "the answer model refused the request; retry later",
                retry_after=_PERMANENT_RETRY_AFTER,
            ) from exc


def _replace_model(
    answer: GroundedAnswer, model: str, reason: str | None, spent: float
) -> GroundedAnswer:
    return GroundedAnswer(
        answer.text,
        answer.sources,
        answer.dropped_citations,
        EXTRACTIVE,
        model=model,
        fallback=reason,
        model_seconds=spent,
    )


def _with_note(text: str, sources: Sequence[Passage]) -> str:
    """An answer with no verified source says so."""
    return text if sources else f"{text.rstrip()}\n\n{NO_VERIFIED_SOURCE}"
