"""DynamoIdempotencyStore: Idempotency-Key records on `{prefix}-idempotency` (key scope +
idempotency_key).

AWS: table `{prefix}-idempotency` (TTL on `expires_at`). IAM: dynamodb:PutItem,
dynamodb:GetItem, dynamodb:UpdateItem, dynamodb:DeleteItem.

Every write is conditional: a claim only where no record is, or an expired one (TTL deletes
lazily, so an expired record may still be read: it counts as absent); a take-over only from
the owner the caller saw; a plan, an outcome or a release only by the record's owner and
only while it has no outcome, so an answer once stored never changes.
"""

from __future__ import annotations

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import IdempotencyItem, Models
from chalicelib.domain.idempotency import IdempotencyRecord
from chalicelib.errors import TransientError


def _record(item: IdempotencyItem) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=item.scope,
        key=item.idempotency_key,
        fingerprint=item.fingerprint,
        owner=item.owner,
        created_at=float(item.created_at),
        expires_at=float(item.expires_at),
        started_at=float(item.started_at),
        planned=item.planned,
        outcome=item.outcome,
    )


class DynamoIdempotencyStore:
    def __init__(self, models: Models) -> None:
        self._model = models.idempotency

    def claim(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        m = self._model
        item = m(
            record.scope,
            record.key,
            fingerprint=record.fingerprint,
            owner=record.owner,
            created_at=record.created_at,
            started_at=record.started_at,
            planned=record.planned,
            outcome=record.outcome,
            expires_at=int(record.expires_at),
        )
        for _ in range(2):  # an expired record may vanish between the write and the read
            try:
                item.save(condition=m.scope.does_not_exist() | (m.expires_at < now))
                return None
            except DYNAMO_ERRORS as exc:
                if not is_condition_failure(exc):
                    raise translate(exc, "claim an idempotency key") from exc
            found = self.get(record.scope, record.key)
            if found is not None:
                return found
        raise TransientError("an idempotency key was claimed and expired meanwhile; retry")

    def take_over(self, found: IdempotencyRecord, owner: str) -> IdempotencyRecord | None:
        m = self._model
        unanswered = (m.owner == found.owner) & m.outcome.does_not_exist()
        item = self._update(found.scope, found.key, [m.owner.set(owner)], unanswered)
        return None if item is None else _record(item)

    def plan(self, scope: str, key: str, *, owner: str, planned: str) -> bool:
        m = self._model
        owned = (m.owner == owner) & m.outcome.does_not_exist()
        return self._update(scope, key, [m.planned.set(planned)], owned) is not None

    def finish(self, scope: str, key: str, *, owner: str, outcome: str) -> bool:
        m = self._model
        owned = (m.owner == owner) & m.outcome.does_not_exist()
        return self._update(scope, key, [m.outcome.set(outcome)], owned) is not None

    def release(self, scope: str, key: str, *, owner: str) -> None:
        m = self._model
        try:
            m(scope, key).delete(condition=(m.owner == owner) & m.outcome.does_not_exist())
        except DYNAMO_ERRORS as exc:
            if not is_condition_failure(exc):
                raise translate(exc, "release an idempotency key") from exc

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        with translated("read an idempotency key"):
            try:
                return _record(self._model.get(scope, key, consistent_read=True))
            except self._model.DoesNotExist:
                return None

    def _update(
        self, scope: str, key: str, actions: list[Action], condition: Condition
    ) -> IdempotencyItem | None:
        item = self._model(scope, key)
        try:
            item.update(actions=actions, condition=condition)
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return None
            raise translate(exc, "update an idempotency key") from exc
        return item
