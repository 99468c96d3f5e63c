"""Use case: answer a question about a repository with sources verified against its blobs.

Retrieval resolves a follow-up's subject from the conversation (domain/followups.py); the
answer is written by the configured model or the extractive answerer (services/answering.py).
A conversation belongs to one tenant (its key) and one repository (its turns record it):
continuing it about another repository is refused.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

from chalicelib.domain.answers import Passage, Turn
from chalicelib.domain.followups import retrieval_query
from chalicelib.domain.freshness import Freshness
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.tenancy import conversation_key
from chalicelib.errors import InvalidRequest
from chalicelib.ports import Answerer, ChatModel, Clock, ConversationStore
from chalicelib.services.answering import EXTRACTIVE, Answering, GroundedAnswer
from chalicelib.services.generations import (
    GenerationLoader,
    LoadedGeneration,
    PointerCache,
    serving,
)
from chalicelib.services.retriever import Retriever

MAX_QUESTION = 2000
PASSAGES = 8
_CONVERSATION_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True)
class Question:
    """A question about one repository; `conversation_id` continues a conversation."""

    repository_id: str
    text: str
    conversation_id: str | None = None

    def __post_init__(self) -> None:
        validate_repository_id(self.repository_id)
        if not self.text.strip() or len(self.text) > MAX_QUESTION:
            raise InvalidRequest(
                f"question must be non-empty text of at most {MAX_QUESTION} characters"
            )
        cid = self.conversation_id
        if cid is not None and not _CONVERSATION_RE.match(cid):
            raise InvalidRequest("conversationId must be 8-64 letters, digits, '_' or '-'")


@dataclass(frozen=True)
class Timings:
    """Where the time of one answer went, in seconds (not on the wire: for benchmarks):
    retrieving passages, writing the answer (grounding and checks included), and the part
    of that spent waiting for the model."""

    retrieval: float = 0.0
    answer: float = 0.0
    model: float = 0.0


@dataclass(frozen=True)
class ChatAnswer:
    """The answer, the conversation it belongs to, and the passages it cites that were
    verified against the blob at the indexed commit. `answerer` wrote the text, `model` is
    the language model asked (None without one), `dropped_citations` counts the citations
    that did not verify, `fallback` says why the extractive answer replaced the model's."""

    text: str
    conversation_id: str
    sources: list[Passage]
    freshness: Freshness
    answerer: str = EXTRACTIVE
    model: str | None = None
    dropped_citations: int = 0
    fallback: str | None = None
    timings: Timings = field(default_factory=Timings)


class ChatService:
    def __init__(
        self,
        *,
        pointers: PointerCache,
        loader: GenerationLoader,
        retriever: Retriever,
        answerer: Answerer,
        conversations: ConversationStore,
        clock: Clock,
        ttl_seconds: int,
        caller: Caller,
        model: ChatModel | None = None,
    ) -> None:
        self._pointers = pointers
        self._loader = loader
        self._retriever = retriever
        self._answering = Answering(extractive=answerer, model=model)
        self._conversations = conversations
        self._clock = clock
        self._ttl = ttl_seconds
        self._caller = caller

    def ask(self, question: Question) -> ChatAnswer:
        serve = serving(self._pointers, self._loader, question.repository_id, self._caller)
        cid = question.conversation_id
        history = self._history(cid, question.repository_id) if cid else []
        started = time.perf_counter()
        passages = self._retrieve(serve.loaded, retrieval_query(question.text, history))
        answered = time.perf_counter()
        answer = self._answering.answer(serve.loaded, question.text, passages, history)
        spent = time.perf_counter() - answered
        cid = cid or uuid.uuid4().hex
        cited = tuple(dict.fromkeys(s.path for s in answer.sources))
        turn = Turn(question.text, answer.text, question.repository_id, cited)
        self._conversations.append(self._key(cid), turn, expires_at=self._clock.now() + self._ttl)
        timings = Timings(answered - started, spent, answer.model_seconds)
        return _chat_answer(answer, cid, serve.freshness(), timings)

    def _key(self, conversation_id: str) -> str:
        """Conversations are the tenant's: another tenant's id names none of its own."""
        return conversation_key(self._caller.tenant, conversation_id)

    def _history(self, conversation_id: str, repository_id: str) -> list[Turn]:
        """The conversation so far, refused when it is about another repository."""
        history = self._conversations.history(self._key(conversation_id))
        if any(t.repository_id not in ("", repository_id) for t in history):
            raise InvalidRequest(
                "this conversation is about another repository: start a new one"
                " (leave out conversationId)"
            )
        return history

    def _retrieve(self, loaded: LoadedGeneration, query: str) -> list[Passage]:
        passages = []
        for hit in self._retriever.hybrid(loaded, query, PASSAGES):
            text = loaded.lexical.lines(hit.path, hit.start_line, hit.end_line) or ""
            passages.append(Passage(hit.path, hit.start_line, hit.end_line, text, hit.score))
        return passages


def _chat_answer(
    answer: GroundedAnswer, cid: str, freshness: Freshness, timings: Timings
) -> ChatAnswer:
    return ChatAnswer(
        text=answer.text,
        conversation_id=cid,
        sources=answer.sources,
        freshness=freshness,
        answerer=answer.answerer,
        model=answer.model,
        dropped_citations=answer.dropped_citations,
        fallback=answer.fallback,
        timings=timings,
    )
