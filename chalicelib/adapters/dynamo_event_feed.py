"""DynamoEventFeed and DynamoReadModelStore: the events table read by time, for the archive,
and a repositories-shaped table a replay rebuilds (ADR 23).

AWS resources and IAM actions:
- `{prefix}-repositories`: dynamodb:Scan (the ids only: which repositories have events).
- `{prefix}-events`: dynamodb:Query (one repository's events between two times).
- a replay's table (the repositories table's key schema, made by `strata events replay`):
  dynamodb:Scan, dynamodb:PutItem. Operators' credentials only: no function writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from chalicelib.adapters.dynamo_errors import translated
from chalicelib.adapters.dynamo_models import EventItem, Models, RepositoryItem, bind, stats_dict
from chalicelib.domain.event_archive import key_bound
from chalicelib.domain.event_replay import ReadModel
from chalicelib.domain.events import Event
from chalicelib.domain.models import Stats, Status


def _event(item: EventItem) -> Event:
    data = json.loads(item.data) if item.data else {}
    return Event(item.repository_id, item.event_key, item.type, float(item.at), data, item.actor)


class DynamoEventFeed:
    def __init__(self, models: Models) -> None:
        self._repos = models.repositories
        self._events = models.events

    def repository_ids(self) -> Iterator[str]:
        m = self._repos
        with translated("scan repository ids"):
            for item in m.scan(attributes_to_get=["repository_id"]):
                yield item.repository_id

    def between(self, repository_id: str, after_ms: int, upto_ms: int) -> list[Event]:
        m = self._events
        low, high = key_bound(after_ms, after=True), key_bound(upto_ms, after=True)
        with translated(f"query events of {repository_id}"):
            return [
                _event(i)
                for i in m.query(
                    repository_id,
                    range_key_condition=m.event_key.between(low, high),
                    consistent_read=True,
                )
                if i.event_key > low  # BETWEEN is inclusive; `after_ms` itself is not wanted
            ]


class DynamoReadModelStore:
    """Read models in a table of the repositories table's shape, under its attribute names
    (only the event-sourced ones are written)."""

    def __init__(self, table_name: str, region: str, host: str | None) -> None:
        self._model = bind(RepositoryItem, table_name, region, host)

    def is_empty(self) -> bool:
        with translated("scan the replay table"):
            return next(iter(self._model.scan(limit=1)), None) is None

    def put(self, model: ReadModel) -> None:
        item = self._model(
            model.repository_id,
            status=model.status.value,
            branch=model.branch,
            indexed_sha=model.indexed_sha,
            head_sha=model.head_sha,
            requested_sha=model.requested_sha,
            requested_at=model.requested_at,
            indexed_at=model.indexed_at,
            generation_sha=model.indexed_sha if model.fence is not None else None,
            generation_fence=model.fence,
            stats=model.stats.to_dict(),
            error=model.error,
            num_files=model.num_files,
            files_processed=model.files_processed,
        )
        with translated(f"put read model {model.repository_id}"):
            item.save()

    def all(self) -> Iterator[ReadModel]:
        with translated("scan the replay table"):
            for item in self._model.scan():
                yield ReadModel(
                    repository_id=item.repository_id,
                    status=Status(item.status or Status.IDLE),
                    branch=item.branch,
                    indexed_sha=item.indexed_sha,
                    head_sha=item.head_sha,
                    requested_sha=item.requested_sha,
                    requested_at=item.requested_at,
                    indexed_at=item.indexed_at,
                    fence=None if item.generation_fence is None else int(item.generation_fence),
                    stats=Stats.from_dict(stats_dict(item)),
                    error=item.error,
                    num_files=int(item.num_files or 0),
                    files_processed=int(item.files_processed or 0),
                )
