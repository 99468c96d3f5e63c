"""Use cases over the events archive (ADR 23): a repository's status at a past time, and a
replay that rebuilds every repository's read model into an empty table."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.event_archive import day_of, parse_instant
from chalicelib.domain.event_replay import ReadModel, fold
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.models import Repository
from chalicelib.domain.tenancy import visible
from chalicelib.errors import InvalidRequest
from chalicelib.ports import EventArchive, EventFeed, ReadModelStore, RepoStore
from chalicelib.services.event_archiver import DEFAULT_SETTLE_SECONDS


@dataclass(frozen=True)
class StatusAt:
    repository: Repository  # its event-sourced fields as they were (idle: none, or unseen)
    at: float


class StatusHistory:
    """What a repository's status was at a time: its archived events up to then, and the
    events table's newer ones the archive may not hold yet, folded."""

    def __init__(
        self,
        *,
        archive: EventArchive,
        feed: EventFeed,
        repos: RepoStore,
        caller: Caller,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    ) -> None:
        self._archive = archive
        self._feed = feed
        self._repos = repos
        self._caller = caller
        self._settle_ms = int(settle_seconds * 1000)

    def status_at(self, repository_id: str, raw_at: object) -> StatusAt:
        rid = validate_repository_id(repository_id)
        at = parse_instant(raw_at)
        # Tenancy as today: one the caller may not see now reads as unknown, at any time.
        if visible(self._caller, self._repos.get(rid)) is None:
            return StatusAt(Repository(id=rid, remote=""), at)
        until_ms = int(at * 1000)
        archived = self._archive.read(rid, [d for d in self._archive.days(rid) if d <= day_of(at)])
        tail_from = max(0, self._archive.watermark() - self._settle_ms)
        recent = self._feed.between(rid, tail_from, until_ms) if until_ms > tail_from else []
        model = fold([*archived, *recent], until=at).get(rid, ReadModel(rid))
        return StatusAt(model.repository(), at)


@dataclass(frozen=True)
class ReplayReport:
    events: int
    repositories: int
    until: float


class Replayer:
    """Rebuilds the read models of every repository from the archive alone."""

    def __init__(self, *, archive: EventArchive, target: ReadModelStore) -> None:
        self._archive = archive
        self._target = target

    def replay(self, raw_until: object) -> ReplayReport:
        until = parse_instant(raw_until)
        if not self._target.is_empty():
            raise InvalidRequest("the replay table is not empty: give a new or empty one")
        events = list(self._archive.read_all(day_of(until)))
        models = fold(events, until=until)
        for model in models.values():
            self._target.put(model)
        return ReplayReport(len(events), len(models), until)
