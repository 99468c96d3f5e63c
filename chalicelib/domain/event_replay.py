"""Repository read models folded from events (ADR 23). Pure: no I/O here.

`fold(events)` gives, per repository, what the repository item's status fields said once
those events had happened: status, branch, indexed/head/requested SHA, when it was
requested and indexed, the published generation's fence and stats, the last error and the
progress a job started with. The use cases that change those fields append the event that
says how (services/index_requests.py, index_planner.py, generation_publisher.py,
job_endings.py, webhooks.py); `read_model(repo)` projects a live item onto the same fields,
so a replay can be compared with the table it rebuilds.

Not event-sourced: the progress counters a running job adds to (the start and the publish
are), the vectors' sub-state while embedding, tenants and tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.domain.events import Event, EventType
from chalicelib.domain.models import Generation, Repository, Stats, Status

# The planner found the requested SHA indexed already: back to ready without a build.
INDEX_UP_TO_DATE = "IndexUpToDate"


@dataclass(frozen=True)
class ReadModel:
    repository_id: str
    status: Status = Status.IDLE
    branch: str | None = None
    indexed_sha: str | None = None
    head_sha: str | None = None
    requested_sha: str | None = None
    requested_at: float | None = None
    indexed_at: float | None = None
    fence: int | None = None
    stats: Stats = field(default_factory=Stats)
    error: str | None = None
    num_files: int = 0
    files_processed: int = 0

    def repository(self) -> Repository:
        """A repository item holding these fields (what the status view reads)."""
        generation = None
        if self.indexed_sha is not None and self.fence is not None:
            generation = Generation(key="", sha=self.indexed_sha, fence=self.fence)
        return Repository(
            id=self.repository_id,
            remote="",
            branch=self.branch,
            status=self.status,
            indexed_sha=self.indexed_sha,
            head_sha=self.head_sha,
            requested_sha=self.requested_sha,
            generation=generation,
            stats=self.stats,
            indexed_at=self.indexed_at,
            requested_at=self.requested_at,
            error=self.error,
            num_files=self.num_files,
            files_processed=self.files_processed,
        )


def read_model(repo: Repository) -> ReadModel:
    """The event-sourced fields of a live repository item."""
    return ReadModel(
        repository_id=repo.id,
        status=repo.status,
        branch=repo.branch,
        indexed_sha=repo.indexed_sha,
        head_sha=repo.head_sha,
        requested_sha=repo.requested_sha,
        requested_at=repo.requested_at,
        indexed_at=repo.indexed_at,
        fence=repo.generation.fence if repo.generation else None,
        stats=repo.stats,
        error=repo.error,
        num_files=repo.num_files,
        files_processed=repo.files_processed,
    )


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _number(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else default  # type: ignore[arg-type]


def _requested(m: ReadModel, e: Event, d: dict[str, Any]) -> ReadModel:
    sha = _text(d, "sha") or m.requested_sha
    return replace(
        m,
        status=Status.INDEXING,
        branch=_text(d, "branch") or m.branch,
        head_sha=sha,
        requested_sha=sha,
        requested_at=_number(d, "requestedAt", e.at),
        error=None,
    )


def _started(m: ReadModel, e: Event, d: dict[str, Any]) -> ReadModel:
    return replace(
        m,
        status=Status.INDEXING,
        error=None,
        num_files=int(_number(d, "numFiles", m.num_files)),
        files_processed=int(_number(d, "filesProcessed", m.files_processed)),
    )


def _published(m: ReadModel, e: Event, d: dict[str, Any]) -> ReadModel:
    stats = d.get("stats")
    fence = d.get("fence")
    return replace(
        m,
        status=Status.READY,
        indexed_sha=_text(d, "sha"),
        fence=fence if isinstance(fence, int) else m.fence,
        stats=Stats.from_dict(stats if isinstance(stats, dict) else None),
        indexed_at=_number(d, "indexedAt", e.at),
        error=None,
        files_processed=m.num_files,
    )


def _up_to_date(m: ReadModel, e: Event, d: dict[str, Any]) -> ReadModel:
    return replace(m, status=Status.READY, error=None)


def _failed(m: ReadModel, e: Event, d: dict[str, Any]) -> ReadModel:
    if d.get("marked") is False:  # recorded only: a newer request or job owned the item
        return m
    head = _text(d, "headSha")
    return replace(m, status=Status.ERROR, error=_text(d, "error"), head_sha=head or m.head_sha)


def _branch_deleted(m: ReadModel, e: Event, d: dict[str, Any]) -> ReadModel:
    if d.get("indexDropped") is not True:
        return m
    return replace(
        m,
        status=Status.IDLE,
        indexed_sha=None,
        indexed_at=None,
        head_sha=None,
        requested_sha=None,
        fence=None,  # the item keeps its fence, but no generation to show it
        stats=Stats(),
    )


_APPLY = {
    EventType.INDEX_REQUESTED.value: _requested,
    EventType.INDEX_STARTED.value: _started,
    EventType.GENERATION_PUBLISHED.value: _published,
    INDEX_UP_TO_DATE: _up_to_date,
    EventType.INDEX_FAILED.value: _failed,
    EventType.BRANCH_DELETED.value: _branch_deleted,
}


def apply(model: ReadModel, event: Event) -> ReadModel:
    """`model` once `event` happened; events that change no status field leave it alone."""
    step = _APPLY.get(event.type)
    return model if step is None else step(model, event, dict(event.data))


def fold(events: Iterable[Event], until: float | None = None) -> dict[str, ReadModel]:
    """Each repository's read model after its events up to `until` (epoch seconds,
    inclusive; None: all), applied in key order, each event id once."""
    unique: dict[tuple[str, str], Event] = {}
    for e in events:
        if until is None or e.at <= until:
            unique.setdefault((e.repository_id, e.key), e)
    models: dict[str, ReadModel] = {}
    for rid, _ in sorted(unique):
        models.setdefault(rid, ReadModel(rid))
    for (rid, _), event in sorted(unique.items()):
        models[rid] = apply(models[rid], event)
    return models


# What the use cases add to the events they append, so that a fold can rebuild the item.


def requested_fields(repo: Repository) -> dict[str, object]:
    """IndexRequested: the branch and the request time the item now holds."""
    return {"branch": repo.branch, "requestedAt": repo.requested_at}


def started_fields(num_files: int, files_processed: int) -> dict[str, object]:
    """IndexStarted: the progress the job starts from."""
    return {"numFiles": num_files, "filesProcessed": files_processed}


def published_fields(stats: Stats, indexed_at: float) -> dict[str, object]:
    """GenerationPublished: every stat the item holds, and its publish time."""
    return {"stats": stats.to_public(), "indexedAt": indexed_at}
