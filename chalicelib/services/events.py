"""Repository events: appended by every use case that changes an index, read by the API.

Appending is best effort: an event log outage is logged and never fails an index, a webhook
or the sweep (the repository item stays the source of truth; events explain it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.domain.events import (
    Event,
    EventPage,
    EventType,
    decode_cursor,
    encode_cursor,
    index_failed,
    new_event_key,
    parse_limit,
)
from chalicelib.domain.ids import validate_repository_id
from chalicelib.ports import Clock, EventLog

if TYPE_CHECKING:  # context imports this module (for NullEventLog)
    from chalicelib.services.context import IndexPorts

log = logging.getLogger(__name__)


class NullEventLog:
    """Keeps nothing: for wiring that has no event table (some tests, tools)."""

    def append(self, repository_id: str, type: str, data: Mapping[str, object], at: float) -> Event:
        return Event(repository_id, new_event_key(at), type, at, dict(data))

    def list(self, repository_id: str, limit: int, after: str | None = None) -> EventPage:
        return EventPage((), None)


def append_event(
    events: EventLog, clock: Clock, repository_id: str, type: str, data: Mapping[str, object]
) -> None:
    """Append an event now; a failure is logged and swallowed (never fails the caller)."""
    try:
        events.append(repository_id, type, data, clock.now())
    except Exception:
        log.warning("could not record %s for %s", type, repository_id, exc_info=True)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_view(event: Event) -> dict[str, object]:
    return {"id": event.key, "type": event.type, "at": iso(event.at), "data": dict(event.data)}


class EventQueries:
    def __init__(self, *, events: EventLog) -> None:
        self._events = events

    def list(self, repository_id: str, limit: object, cursor: object) -> dict[str, object]:
        """A page of a repository's events, newest first, and the cursor of the next page."""
        rid = validate_repository_id(repository_id)
        page = self._events.list(rid, parse_limit(limit), decode_cursor(cursor))
        return {
            "repositoryId": rid,
            "events": [event_view(e) for e in page.events],
            "nextCursor": encode_cursor(page.last_key) if page.last_key else None,
        }


def record(ports: IndexPorts, repository_id: str, type: str, data: Mapping[str, object]) -> None:
    """append_event with the indexing ports' log and clock."""
    append_event(ports.events, ports.clock, repository_id, type, data)


def record_failure(ports: IndexPorts, repository_id: str, job_id: str, why: str) -> None:
    """IndexFailed with the failed job's SHA (best effort, like append_event)."""
    try:
        job = ports.jobs.get(job_id)
    except Exception:
        job = None
    record(
        ports, repository_id, EventType.INDEX_FAILED, index_failed(job.sha if job else None, why)
    )
