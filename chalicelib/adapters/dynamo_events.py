"""DynamoEventLog and DynamoDeliveryLog: repository events and handled webhook deliveries.

AWS resources and IAM actions:
- `{prefix}-events` (key repository_id + event_key, TTL on `expires_at`): dynamodb:PutItem,
  dynamodb:Query.
- `{prefix}-deliveries` (key delivery_id, TTL on `expires_at`): dynamodb:PutItem (conditional
  on the id being new), dynamodb:DeleteItem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import EventItem, Models
from chalicelib.domain.events import Event, EventPage, new_event_key


def _event(item: EventItem) -> Event:
    data = json.loads(item.data) if item.data else {}
    return Event(item.repository_id, item.event_key, item.type, float(item.at), data, item.actor)


class DynamoEventLog:
    """Events expire `ttl_seconds` after they happened (0 keeps them)."""

    def __init__(self, models: Models, ttl_seconds: int = 0) -> None:
        self._model = models.events
        self._ttl = ttl_seconds

    def append(
        self,
        repository_id: str,
        type: str,
        data: Mapping[str, object],
        at: float,
        actor: str | None = None,
    ) -> Event:
        key = new_event_key(at)
        item = self._model(
            repository_id,
            key,
            type=type,
            at=at,
            data=json.dumps(dict(data), separators=(",", ":"), default=str),
            actor=actor,
            expires_at=int(at + self._ttl) if self._ttl > 0 else None,
        )
        with translated(f"append event to {repository_id}"):
            item.save()
        return Event(repository_id, key, type, at, dict(data), actor)

    def list(self, repository_id: str, limit: int, after: str | None = None) -> EventPage:
        m = self._model
        condition = m.event_key < after if after is not None else None
        with translated(f"list events of {repository_id}"):
            items = [
                _event(i)
                for i in m.query(
                    repository_id,
                    range_key_condition=condition,
                    scan_index_forward=False,
                    limit=limit + 1,  # one more, to know whether another page exists
                    consistent_read=True,
                )
            ]
        page = tuple(items[:limit])
        more = len(items) > limit
        return EventPage(page, page[-1].key if more and page else None)


class DynamoDeliveryLog:
    def __init__(self, models: Models) -> None:
        self._model = models.deliveries

    def claim(self, delivery_id: str, *, event: str, now: float, expires_at: float) -> bool:
        m = self._model
        item = m(delivery_id, event=event, received_at=now, expires_at=int(expires_at))
        try:
            item.save(condition=m.delivery_id.does_not_exist())
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                return False
            raise translate(exc, f"record delivery {delivery_id}") from exc
        return True

    def release(self, delivery_id: str) -> None:
        with translated(f"forget delivery {delivery_id}"):
            self._model(delivery_id).delete()
