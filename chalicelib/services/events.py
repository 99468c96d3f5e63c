"""Repository events: appended by every use case that changes an index, read by the API.

Appending is best effort: an event log outage is logged and never fails an index, a webhook
or the sweep (the repository item stays the source of truth; events explain it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.events import (
    MAX_LIMIT,
    Event,
    EventPage,
    decode_cursor,
    encode_cursor,
)
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.tenancy import visible
from chalicelib.errors import InvalidRequest
from chalicelib.ports import Clock, EventLog, RepoStore
from chalicelib.services.context import IndexPorts

log = logging.getLogger(__name__)


class EventLogWrapper:
    """An event log around another: lists what it lists; a subclass adds to `append`."""

    def __init__(self, inner: EventLog) -> None:
        self._inner = inner

    def list(self, repository_id: str, limit: int, after: str | None = None) -> EventPage:
        return self._inner.list(repository_id, limit, after)


class AttributedEventLog(EventLogWrapper):
    """An event log whose appends all name one actor: the composition root wraps the log a
    use case gets, so the audit trail needs no actor argument threaded through it."""

    def __init__(self, inner: EventLog, actor: str) -> None:
        super().__init__(inner)
        self.actor = actor

    def append(
        self,
        repository_id: str,
        type: str,
        data: Mapping[str, object],
        at: float,
        actor: str | None = None,
    ) -> Event:
        return self._inner.append(repository_id, type, data, at, actor or self.actor)


def append_event(
    events: EventLog, clock: Clock, repository_id: str, type: str, data: Mapping[str, object]
) -> None:
    """Append an event now; a failure is logged and swallowed (never fails the caller)."""
    try:
        events.append(repository_id, type, data, clock.now())
    except Exception:
        log.warning("could not record %s for %s", type, repository_id, exc_info=True)


@dataclass(frozen=True)
class EventsPage:
    """A page of a repository's events, newest first; `next_cursor` asks for the next."""

    repository_id: str
    events: list[Event]
    next_cursor: str | None


class EventQueries:
    def __init__(self, *, events: EventLog, repos: RepoStore, caller: Caller) -> None:
        self._events = events
        self._repos = repos
        self._caller = caller

    def list(self, repository_id: str, limit: int, cursor: str | None) -> EventsPage:
        """A page of a repository's events, newest first, and the cursor of the next page.
        A repository the caller may not see has none, as an unknown one."""
        rid = validate_repository_id(repository_id)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
        after = decode_cursor(cursor)
        if self._caller.is_admin or visible(self._caller, self._repos.get(rid)):
            page = self._events.list(rid, limit, after)
        else:
            page = EventPage((), None)
        cursor = encode_cursor(page.last_key) if page.last_key else None
        return EventsPage(rid, list(page.events), cursor)


def record(ports: IndexPorts, repository_id: str, type: str, data: Mapping[str, object]) -> None:
    """append_event with the indexing ports' log and clock."""
    append_event(ports.events, ports.clock, repository_id, type, data)
