"""DynamoConversationStore: the last turns of chat conversations on `{prefix}-conversations`.

AWS: table `{prefix}-conversations` (TTL on `expires_at`). IAM: dynamodb:GetItem,
dynamodb:UpdateItem.
"""

from __future__ import annotations

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import Models
from chalicelib.ports import Turn

MAX_TURNS = 20


class DynamoConversationStore:
    """Keeps the last MAX_TURNS turns; expiry is left to the table's TTL on `expires_at`."""

    def __init__(self, models: Models) -> None:
        self._model = models.conversations

    def history(self, conversation_id: str) -> list[Turn]:
        with translated(f"get conversation {conversation_id}"):
            try:
                item = self._model.get(conversation_id, consistent_read=True)
            except self._model.DoesNotExist:
                return []
        return [
            Turn(t.question, t.answer, t.repository_id or "", tuple(map(str, t.sources or ())))
            for t in item.turns or []
        ]

    def append(self, conversation_id: str, turn: Turn, *, expires_at: float) -> None:
        m = self._model
        entry: dict[str, object] = {"question": turn.question, "answer": turn.answer}
        if turn.repository_id:
            entry["repository_id"] = turn.repository_id
        if turn.sources:
            entry["sources"] = list(turn.sources)
        item = m(conversation_id)
        with translated(f"append to conversation {conversation_id}"):
            item.update(
                actions=[
                    m.turns.set((m.turns | []).append([entry])),
                    m.expires_at.set(int(expires_at)),
                ]
            )
        self._trim(conversation_id, len(item.turns or []))

    def _trim(self, conversation_id: str, length: int) -> None:
        """Drop the oldest turns beyond MAX_TURNS, only if no one appended meanwhile."""
        excess = length - MAX_TURNS
        if excess <= 0:
            return
        m = self._model
        same_length = m.turns[length - 1].exists() & m.turns[length].does_not_exist()
        try:
            m(conversation_id).update(
                actions=[m.turns[i].remove() for i in range(excess)], condition=same_length
            )
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return  # a concurrent append grew the list; the next append trims it
            raise translate(exc, f"trim conversation {conversation_id}") from exc
