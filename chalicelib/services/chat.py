"""Use case: answer a question about a repository with sources verified against its blobs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain.freshness import Freshness
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.tenancy import conversation_key
from chalicelib.domain.verification import span_is_valid
from chalicelib.errors import InvalidRequest
from chalicelib.ports import Answerer, Clock, ConversationStore, Passage, Turn
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
class ChatAnswer:
    """The answer, the conversation it belongs to, and the passages it cites that were
    verified against the blob at the indexed commit."""

    text: str
    conversation_id: str
    sources: list[Passage]
    freshness: Freshness


def verified_sources(loaded: LoadedGeneration, passages: Sequence[Passage]) -> list[Passage]:
    """Keep a passage only if its lines are really in the blob at the indexed commit."""
    kept = []
    for p in passages:
        entry = loaded.files.get(p.path)
        text = loaded.lexical.file_text(p.path)
        if entry and span_is_valid(text, entry.oid, p.start_line, p.end_line):
            kept.append(p)
    return kept


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
    ) -> None:
        self._pointers = pointers
        self._loader = loader
        self._retriever = retriever
        self._answerer = answerer
        self._conversations = conversations
        self._clock = clock
        self._ttl = ttl_seconds
        self._caller = caller

    def ask(self, question: Question) -> ChatAnswer:
        serve = serving(self._pointers, self._loader, question.repository_id, self._caller)
        cid = question.conversation_id
        history = self._conversations.history(self._key(cid)) if cid else []
        passages = self._retrieve(serve.loaded, question.text, history)
        answer = self._answerer.answer(question.text, passages, history)
        cited = [passages[i] for i in answer.cited if 0 <= i < len(passages)]
        sources = verified_sources(serve.loaded, cited)
        cid = cid or uuid.uuid4().hex
        turn = Turn(question.text, answer.text)
        self._conversations.append(self._key(cid), turn, expires_at=self._clock.now() + self._ttl)
        return ChatAnswer(answer.text, cid, sources, serve.freshness())

    def _key(self, conversation_id: str) -> str:
        """Conversations are the tenant's: another tenant's id names none of its own."""
        return conversation_key(self._caller.tenant, conversation_id)

    def _retrieve(
        self, loaded: LoadedGeneration, question: str, history: Sequence[Turn]
    ) -> list[Passage]:
        # A follow-up ("and where is it called?") leans on the previous question's terms.
        query = question if not history else f"{question} {history[-1].question}"
        passages = []
        for hit in self._retriever.hybrid(loaded, query, PASSAGES):
            text = loaded.lexical.lines(hit.path, hit.start_line, hit.end_line) or ""
            passages.append(Passage(hit.path, hit.start_line, hit.end_line, text, hit.score))
        return passages
