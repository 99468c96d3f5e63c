"""How far behind its branch a repository's index is (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain.events import Event, EventType
from chalicelib.domain.models import Repository


@dataclass(frozen=True)
class Freshness:
    """Which commit answered a query, and how far it lags the branch head."""

    indexed_sha: str | None
    head_sha: str | None
    stale: bool
    lag_seconds: int


def lag_seconds(repo: Repository, now: float) -> int:
    """Seconds since the unindexed head SHA was first seen (`requested_at`); 0 when the
    indexed SHA is the head, or nothing newer was ever seen."""
    if not repo.head_sha or repo.head_sha == repo.indexed_sha or repo.requested_at is None:
        return 0
    return max(0, int(now - repo.requested_at))


def push_received_at(events: Iterable[Event], sha: str) -> float | None:
    """When the first listed webhook delivery pushing `sha` (its `after`) arrived; None when
    none is listed (the SHA came from the API or the sweep, or its delivery is older)."""
    return min(
        (
            e.at
            for e in events
            if e.type == EventType.WEBHOOK_RECEIVED and e.data.get("after") == sha
        ),
        default=None,
    )
