"""The events archive's rows, partitions and file names (ADR 23). Pure: no I/O here.

An archived event is one row: the event's own fields, the data fields whose type is known as
typed columns (sha, jobId, fence, error, ..., and the totals of a publish's stats), and every
other data field as one JSON object, so `event_row` and `event_from_row` round-trip exactly.

Partitions are hive style, `events/date=YYYY-MM-DD/repository=<value>/`: the value is the
repository id with every byte outside `[A-Za-z0-9._:-]` percent-encoded, so whatever id an
event carries, it stays one path segment (no `/`, no `=`, no `..`). A file's name is derived
from the ids it holds: the same batch written twice is the same object.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from chalicelib.domain.events import Event
from chalicelib.errors import InvalidRequest

PREFIX = "events/"  # the Glue table's location; nothing else lives under it
DAYS_PREFIX = "event-days/"  # one empty marker per (repository, day) archived
STATE_KEY = "event-archive/watermark"  # the compactor's watermark: epoch ms, as text
COMPACTED_KEY = "event-archive/compacted-through"  # the last day merged, YYYY-MM-DD
MAX_PARTITION_ID = 300  # ids.MAX_ID_LENGTH: anything longer is not an id
_SAFE = "._:-"  # besides ASCII letters and digits, kept as they are
_DAY_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

# Data fields stored as typed columns: wire name -> (column, Python type).
TYPED: dict[str, tuple[str, type]] = {
    "sha": ("sha", str),
    "jobId": ("job_id", str),
    "fence": ("fence", int),
    "error": ("error", str),
    "source": ("source", str),
    "force": ("force", bool),
    "branch": ("branch", str),
    "headSha": ("head_sha", str),
}
STATS_TYPED: dict[str, str] = {
    "totalFiles": "stats_total_files",
    "totalSize": "stats_total_size",
    "chunks": "stats_chunks",
}
# Column order of an archived row (the Parquet schema follows it; append only).
COLUMNS = (
    "id",
    "type",
    "repository_id",
    "actor",
    "at_seconds",
    *(column for column, _ in TYPED.values()),
    *STATS_TYPED.values(),
    "data",
)

Row = dict[str, Any]


def _typed(value: object, kind: type) -> bool:
    if kind is int:  # a bool is an int to Python, not to the archive
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def event_row(event: Event) -> Row:
    """One archived row for `event`: known fields typed, the rest as a JSON object."""
    rest: dict[str, Any] = dict(event.data)
    row: Row = {c: None for c in COLUMNS}
    row.update(
        id=event.key,
        type=event.type,
        repository_id=event.repository_id,
        actor=event.actor,
        at_seconds=event.at,
    )
    for name, (column, kind) in TYPED.items():
        if name in rest and _typed(rest[name], kind):
            row[column] = rest.pop(name)
    stats = rest.get("stats")
    if isinstance(stats, Mapping):
        left = dict(stats)
        for name, column in STATS_TYPED.items():
            if name in left and _typed(left[name], int):
                row[column] = left.pop(name)
        rest["stats"] = left
    row["data"] = json.dumps(rest, separators=(",", ":"), sort_keys=True, default=str)
    return row


def event_from_row(row: Mapping[str, Any]) -> Event:
    """The event an archived row holds (the inverse of event_row)."""
    data: dict[str, Any] = json.loads(row.get("data") or "{}")
    for name, (column, _) in TYPED.items():
        if row.get(column) is not None:
            data[name] = row[column]
    stats = data.get("stats")
    if isinstance(stats, dict):
        for name, column in STATS_TYPED.items():
            if row.get(column) is not None:
                stats[name] = row[column]
    at = float(row["at_seconds"])
    return Event(
        str(row["repository_id"]), str(row["id"]), str(row["type"]), at, data, row["actor"]
    )


def partition_value(repository_id: str) -> str:
    """The repository's partition value: one path segment, whatever the id holds. Raises
    InvalidRequest for what cannot be an id at all (empty, too long, only dots)."""
    if not repository_id or len(repository_id) > MAX_PARTITION_ID:
        raise InvalidRequest("an archived repository id must have 1 to 300 characters")
    if set(repository_id) <= {"."}:
        raise InvalidRequest("an archived repository id cannot be only dots")
    return quote(repository_id, safe=_SAFE)


def repository_of(value: str) -> str:
    return unquote(value)


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def partition_prefix(day: str, repository_id: str) -> str:
    if not _DAY_RE.match(day):
        raise InvalidRequest(f"{day!r} is not a YYYY-MM-DD day")
    return f"{PREFIX}date={day}/repository={partition_value(repository_id)}/"


def day_marker(repository_id: str, day: str) -> str:
    return f"{DAYS_PREFIX}repository={partition_value(repository_id)}/date={day}"


def file_name(ids: Iterable[str]) -> str:
    """The name of the file holding exactly these event ids (order does not matter)."""
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:32]
    return f"part-{digest}.parquet"


def day_in_key(key: str) -> str | None:
    """The `date=` of an archive object key; None for a key outside the layout."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] + "/" != PREFIX or not parts[1].startswith("date="):
        return None
    day = parts[1].removeprefix("date=")
    return day if _DAY_RE.match(day) else None


def group_by_partition(events: Iterable[Event]) -> dict[tuple[str, str], list[Event]]:
    """Events by (day, repository), each list in key order with duplicate ids dropped."""
    groups: dict[tuple[str, str], dict[str, Event]] = {}
    for e in events:
        groups.setdefault((day_of(e.at), e.repository_id), {}).setdefault(e.key, e)
    return {k: [v[key] for key in sorted(v)] for k, v in groups.items()}


def key_bound(at_ms: int, *, after: bool) -> str:
    """An event key bound: every key of that millisecond sorts after the lower bound and
    before the upper one (keys are `<15 digits>#<hex>`)."""
    return f"{at_ms:015d}#" if not after else f"{at_ms:015d}#~"


def parse_instant(raw: object) -> float:
    """Epoch seconds for `at`/`--to`: ISO 8601 (a naive time is UTC; `Z` or an offset), a
    YYYY-MM-DD day (its start), or epoch seconds or milliseconds. Raises InvalidRequest."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 40:
        raise InvalidRequest("at must be an ISO 8601 time or epoch seconds")
    text = raw.strip()
    if re.fullmatch(r"[0-9]{1,15}(\.[0-9]{1,6})?", text):
        value = float(text)
        return value / 1000 if value >= 1e11 else value  # 1e11 s is the year 5138
    try:
        parsed = (
            datetime.combine(date.fromisoformat(text), datetime.min.time())
            if _DAY_RE.match(text)
            else datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        )
    except ValueError:
        raise InvalidRequest(
            "at must be an ISO 8601 time (2026-01-31T12:00:00Z) or epoch seconds"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1970 <= parsed.year <= 9999:
        raise InvalidRequest("at must be after 1970")
    return parsed.timestamp()


def days_to_compact(first: str | None, last_done: str | None, before: str) -> list[str]:
    """The days whose partitions a run merges: from the day after `last_done` (or `first`,
    the archive's first day) to the day before `before` (the day still being written)."""
    start = date.fromisoformat(last_done) + timedelta(days=1) if last_done else None
    if start is None and first is not None:
        start = date.fromisoformat(first)
    if start is None:
        return []
    end = date.fromisoformat(before)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days)]
