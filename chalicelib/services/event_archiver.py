"""Use case: archive the events table to Parquet in S3, a scheduled compactor (ADR 23).

Each run takes the archive lease (one writer at a time), reads every repository's events
recorded since the watermark, less a settle window (an event whose append was still in
flight when the last run read), up to now less that window, writes one file per (day,
repository) partition holding only the ids that partition lacks, and then advances the
watermark. A run that dies half-way, or a batch delivered twice, rewrites nothing: the
ids already archived are dropped before writing, and a file's name is its ids' hash.

Then it compacts: each day closed since the last run (before the day of the watermark) has
each of its partitions merged into one file, so a repository's day is one file whatever
the schedule wrote (readers dedupe by id while a merged file and its parts coexist).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain.event_archive import day_of, days_to_compact, group_by_partition
from chalicelib.domain.events import Event
from chalicelib.errors import LeaseHeld
from chalicelib.ports import Clock, EventArchive, EventFeed, LockManager

log = logging.getLogger(__name__)

LOCK_ID = "archive:events"  # repository ids start github:/git:/local:, so no clash
DEFAULT_SETTLE_SECONDS = 120.0


@dataclass(frozen=True)
class ArchiveReport:
    events: int = 0  # events read from the table
    written: int = 0  # events written to new files
    files: int = 0
    duplicates: int = 0  # events already archived (a retry, an overlap)
    watermark_ms: int = 0
    merged: int = 0  # partitions of closed days merged into one file
    skipped: bool = False  # another run held the lease

    def to_dict(self) -> dict[str, object]:
        return {
            "events": self.events,
            "written": self.written,
            "files": self.files,
            "duplicates": self.duplicates,
            "watermarkMs": self.watermark_ms,
            "merged": self.merged,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class BatchResult:
    written: int
    files: int
    duplicates: int


def archive_batch(archive: EventArchive, events: Iterable[Event]) -> BatchResult:
    """Write a batch of events (in any order, with repeats) so each id lands once in its
    partition: what a stream consumer would call per batch, and the compactor per run."""
    written = files = duplicates = 0
    for (day, rid), group in sorted(group_by_partition(events).items()):
        known = archive.archived_ids(day, rid)
        new = [e for e in group if e.key not in known]
        duplicates += len(group) - len(new)
        if new and archive.write(day, rid, new) is not None:
            files += 1
        written += len(new)
    return BatchResult(written, files, duplicates)


class EventArchiver:
    def __init__(
        self,
        *,
        feed: EventFeed,
        archive: EventArchive,
        locks: LockManager,
        clock: Clock,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        lease_seconds: float = 900.0,
    ) -> None:
        self._feed = feed
        self._archive = archive
        self._locks = locks
        self._clock = clock
        self._settle_ms = int(settle_seconds * 1000)
        self._lease_seconds = lease_seconds

    def run(self) -> ArchiveReport:
        now = self._clock.now()
        owner = f"archiver-{uuid.uuid4().hex}"
        try:
            lease = self._locks.acquire(LOCK_ID, owner, self._lease_seconds, now)
        except LeaseHeld:
            log.info("another archive run holds the lease")
            return ArchiveReport(skipped=True)
        try:
            return self._run(int(now * 1000))
        finally:
            self._locks.release(lease)

    def _compact(self, today: str) -> int:
        """Merge the partitions of each day closed since the last run: one file each."""
        done = self._archive.compacted_through()
        merged = 0
        for day in days_to_compact(self._archive.first_day(), done, today):
            merged += self._archive.compact_day(day)[0]
            self._archive.set_compacted_through(day)
        return merged

    def _run(self, now_ms: int) -> ArchiveReport:
        mark = self._archive.watermark()
        upto = now_ms - self._settle_ms
        after = max(0, mark - self._settle_ms)  # the overlap: late appends, deduped on write
        events, written, files, duplicates = 0, 0, 0, 0
        for rid in self._feed.repository_ids():
            batch = self._feed.between(rid, after, upto)
            result = archive_batch(self._archive, batch)
            events += len(batch)
            written, files = written + result.written, files + result.files
            duplicates += result.duplicates
        if upto > mark:
            self._archive.set_watermark(upto)
        merged = self._compact(day_of(upto / 1000))
        report = ArchiveReport(events, written, files, duplicates, max(mark, upto), merged)
        log.info("event archive: %s", report.to_dict())
        return report
