"""S3EventArchive: events as Parquet files in the index bucket (ADR 23).

    events/date=YYYY-MM-DD/repository=<value>/part-<hash of its ids>.parquet
    event-days/repository=<value>/date=YYYY-MM-DD       (empty: a repository's days)
    event-archive/watermark                              (the compactor's epoch ms)
    event-archive/compacted-through                      (the last day merged)

A file is written with If-None-Match: *, so a retried batch that races itself writes one
object; that no id is written twice to a partition is the writer's part (it reads the
partition's ids first and writes only new ones).

AWS resources and IAM actions (the index bucket): s3:ListBucket; s3:GetObject on events/*
and event-archive/* (event-days/* are only listed); the archiver also s3:PutObject on the
three prefixes and s3:DeleteObject on events/* (a closed day's files merged into one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import error_code, translate
from chalicelib.domain import archive_files
from chalicelib.domain.event_archive import (
    COMPACTED_KEY,
    DAYS_PREFIX,
    PREFIX,
    STATE_KEY,
    day_in_key,
    day_marker,
    event_from_row,
    event_row,
    file_name,
    partition_prefix,
    partition_value,
)
from chalicelib.domain.events import Event
from chalicelib.errors import NotFound

_EXISTS = {"PreconditionFailed", "ConditionalRequestConflict"}
READERS = 8  # files fetched at once


class S3EventArchive:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket
        # Per partition: the files already read and their ids. Files are immutable, so a
        # writer that comes back to a partition (the next batch) reads only the new ones.
        self._seen: dict[str, tuple[set[str], set[str]]] = {}

    def _keys(self, prefix: str) -> Iterator[str]:
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield str(item["Key"])
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"list {prefix}") from exc

    def _get(self, key: str) -> bytes:
        try:
            data: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"get {key}") from exc
        return data

    def _put(self, key: str, data: bytes, *, if_absent: bool) -> bool:
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, **extra)
        except ClientError as exc:
            if if_absent and error_code(exc) in _EXISTS:
                return False
            raise translate(exc, f"put {key}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"put {key}") from exc
        return True

    def _files(self, prefix: str) -> list[str]:
        return [k for k in self._keys(prefix) if k.endswith(".parquet")]

    def _read_many(self, keys: Sequence[str]) -> list[bytes]:
        if len(keys) <= 1:
            return [self._get(k) for k in keys]
        with ThreadPoolExecutor(min(READERS, len(keys))) as pool:
            return list(pool.map(self._get, keys))

    def archived_ids(self, day: str, repository_id: str) -> set[str]:
        prefix = partition_prefix(day, repository_id)
        read, ids = self._seen.setdefault(prefix, (set(), set()))
        new = [k for k in self._files(prefix) if k not in read]
        for key, data in zip(new, self._read_many(new), strict=True):
            ids.update(archive_files.ids(data))
            read.add(key)
        return set(ids)

    def write(self, day: str, repository_id: str, events: Sequence[Event]) -> str | None:
        if not events:
            return None
        prefix = partition_prefix(day, repository_id)
        key = prefix + file_name(e.key for e in events)
        body = archive_files.encode([event_row(e) for e in events])
        written = self._put(key, body, if_absent=True)
        if written and prefix in self._seen:  # what this writer knows it wrote
            read, ids = self._seen[prefix]
            read.add(key)
            ids.update(e.key for e in events)
        # the day marker after the file: a reader that finds the day finds its file
        self._put(day_marker(repository_id, day), b"", if_absent=False)
        return key if written else None

    def days(self, repository_id: str) -> list[str]:
        prefix = f"{DAYS_PREFIX}repository={partition_value(repository_id)}/date="
        return sorted(k.removeprefix(prefix) for k in self._keys(prefix))

    def read(self, repository_id: str, days: Iterable[str]) -> list[Event]:
        keys = [k for day in days for k in self._files(partition_prefix(day, repository_id))]
        return [event_from_row(r) for data in self._read_many(keys) for r in _rows(data)]

    def read_all(self, until_day: str | None = None) -> Iterator[Event]:
        keys = []
        for key in self._files(PREFIX):
            day = day_in_key(key)
            if day is not None and (until_day is None or day <= until_day):
                keys.append(key)
        for start in range(0, len(keys), 256):  # bounded memory: a chunk of files at a time
            for data in self._read_many(keys[start : start + 256]):
                yield from (event_from_row(r) for r in _rows(data))

    def file_keys(self) -> list[str]:
        """Every archived file's key (the query downloads them)."""
        return self._files(PREFIX)

    def get(self, key: str) -> bytes:
        return self._get(key)

    def first_day(self) -> str | None:
        """The archive's first day (one LIST page: days sort first under events/)."""
        try:
            page = self._s3.list_objects_v2(Bucket=self._bucket, Prefix=PREFIX, MaxKeys=50)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"list {PREFIX}") from exc
        days = [d for o in page.get("Contents", []) if (d := day_in_key(str(o["Key"])))]
        return min(days, default=None)

    def compact_day(self, day: str) -> tuple[int, int]:
        """Merge each partition of `day` holding several files into one file named by its
        ids, then delete the others: (partitions merged, files deleted). Safe to repeat: a
        rerun finds the merged file already there (the same ids, the same name)."""
        partitions: dict[str, list[str]] = {}
        for key in self._files(f"{PREFIX}date={day}/"):
            if day_in_key(key) == day:
                partitions.setdefault(key.rsplit("/", 1)[0] + "/", []).append(key)
        merged = deleted = 0
        for prefix, keys in sorted(partitions.items()):
            if len(keys) < 2:
                continue
            rows = {r["id"]: r for data in self._read_many(keys) for r in _rows(data)}
            ordered = [rows[i] for i in sorted(rows)]
            target = prefix + file_name(rows)
            self._put(target, archive_files.encode(ordered), if_absent=True)
            old = [k for k in keys if k != target]
            self._delete(old)
            self._seen.pop(prefix, None)
            merged, deleted = merged + 1, deleted + len(old)
        return merged, deleted

    def _delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": chunk})
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc, "delete merged archive files") from exc

    def compacted_through(self) -> str | None:
        try:
            return self._get(COMPACTED_KEY).decode() or None
        except NotFound:
            return None

    def set_compacted_through(self, day: str) -> None:
        self._put(COMPACTED_KEY, day.encode(), if_absent=False)

    def watermark(self) -> int:
        try:
            raw = self._get(STATE_KEY)
        except NotFound:
            return 0
        return int(raw.decode() or 0)

    def set_watermark(self, at_ms: int) -> None:
        self._put(STATE_KEY, str(int(at_ms)).encode(), if_absent=False)


def _rows(data: bytes) -> list[dict[str, Any]]:
    return archive_files.decode(data)
