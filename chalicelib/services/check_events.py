"""A check store whose transitions are also events: a created check records CheckRequested
(by the caller's actor, when the log is attributed), and the one writer that ends a check
records CheckFinished. Every path that ends a check (the last batch, a dead letter, a plan
that failed, a request whose message could not be sent) goes through `finish`, so each
check ends with exactly one event; appending stays best effort (services/events.py)."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.checks import Check, CheckStatus
from chalicelib.domain.events import EventType, check_finished, check_requested
from chalicelib.ports import CheckStore, Clock, EventLog
from chalicelib.services.events import append_event


class RecordedChecks:
    def __init__(self, inner: CheckStore, *, events: EventLog, clock: Clock) -> None:
        self._inner = inner
        self._events = events
        self._clock = clock

    def create(self, check: Check) -> None:
        self._inner.create(check)
        self._record(check.repository_id, EventType.CHECK_REQUESTED, check_requested(check))

    def get(self, repository_id: str, check_id: str) -> Check | None:
        return self._inner.get(repository_id, check_id)

    def recent(self, repository_id: str, limit: int) -> list[Check]:
        return self._inner.recent(repository_id, limit)

    def start(
        self,
        repository_id: str,
        check_id: str,
        *,
        total_batches: int,
        stats: Mapping[str, object],
        now: float,
    ) -> bool:
        return self._inner.start(
            repository_id, check_id, total_batches=total_batches, stats=stats, now=now
        )

    def complete_batch(
        self,
        repository_id: str,
        check_id: str,
        batch: int,
        *,
        counts: Mapping[str, int],
        now: float,
    ) -> int | None:
        return self._inner.complete_batch(repository_id, check_id, batch, counts=counts, now=now)

    def finish(
        self,
        repository_id: str,
        check_id: str,
        status: CheckStatus,
        *,
        message: str | None,
        now: float,
    ) -> bool:
        ended = self._inner.finish(repository_id, check_id, status, message=message, now=now)
        if ended:
            check = self._inner.get(repository_id, check_id)
            if check is not None:
                self._record(repository_id, EventType.CHECK_FINISHED, check_finished(check))
        return ended

    def _record(self, repository_id: str, type: EventType, data: Mapping[str, object]) -> None:
        append_event(self._events, self._clock, repository_id, type, data)
