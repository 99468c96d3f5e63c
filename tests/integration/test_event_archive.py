"""The events archive on moto: the compactor over a few thousand events across days and
repositories, batches delivered twice (as a stream retries them), DuckDB over the result,
hostile repository ids and hostile keys in the bucket."""

from __future__ import annotations

import itertools
import random
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from chalicelib.adapters.duckdb_event_query import run_query
from chalicelib.adapters.dynamo_event_feed import DynamoEventFeed, DynamoReadModelStore
from chalicelib.adapters.dynamo_stores import DynamoLockManager
from chalicelib.adapters.s3_event_archive import S3EventArchive
from chalicelib.domain.event_archive import PREFIX, day_of
from chalicelib.domain.event_replay import fold
from chalicelib.domain.events import Event, EventType
from chalicelib.errors import InvalidRequest
from chalicelib.local.provision import ensure_table, load_resources
from chalicelib.services.event_archiver import EventArchiver, archive_batch
from chalicelib.services.event_history import Replayer
from chalicelib.settings import Settings
from tests.fakes.aws import FakeClock
from tests.integration.conftest import MotoWorld, moto_world_for

DAY = 86_400.0
START = 1_764_892_800.0  # 2025-12-05T00:00:00Z
REPOS = [f"github:acme:repo{i}" for i in range(6)]
TYPES = [
    EventType.INDEX_REQUESTED,
    EventType.INDEX_STARTED,
    EventType.GENERATION_PUBLISHED,
    EventType.WEBHOOK_RECEIVED,
]


def generated(n: int, seed: int = 7) -> list[Event]:
    """`n` events over four days and six repositories, as the pipeline would key them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = START + rng.uniform(0, 4 * DAY)
        kind = TYPES[i % len(TYPES)]
        data: dict[str, object] = {"sha": f"{i:040x}", "fence": i % 9, "reason": "gen"}
        if kind is EventType.GENERATION_PUBLISHED:
            data["stats"] = {"totalFiles": i % 50, "totalSize": 100 * i, "chunks": 3}
        key = f"{int(at * 1000):015d}#{i:012x}{rng.getrandbits(32):08x}"
        out.append(Event(REPOS[i % len(REPOS)], key, kind, at, data, "sweep"))
    return sorted(out, key=lambda e: e.key)  # as a stream delivers them: by time


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoWorld]:
    with moto_world_for(Settings(resource_prefix="archive", bucket_name="archive-bucket")) as w:
        yield w


@pytest.fixture
def archive(moto: MotoWorld) -> S3EventArchive:
    s3 = boto3.client("s3", region_name=moto.settings.region)
    for key in [o["Key"] for o in s3.list_objects_v2(Bucket="archive-bucket").get("Contents", [])]:
        s3.delete_object(Bucket="archive-bucket", Key=key)
    return S3EventArchive(s3, "archive-bucket")


def all_rows(archive: S3EventArchive) -> Counter[str]:
    return Counter(e.key for e in archive.read_all())


def test_the_compactor_archives_the_table_once_whatever_reruns(
    moto: MotoWorld, archive: S3EventArchive
) -> None:
    moto.wipe()
    events = generated(1500)
    table = moto.models.events
    with table.batch_write() as batch:
        for e in events:
            item = table(e.repository_id, e.key, type=e.type, at=e.at, data=_json(e.data))
            item.actor = e.actor
            batch.save(item)
    for rid in REPOS:
        moto.models.repositories(rid, status="ready").save()
    clock = FakeClock(START + 4 * DAY + 600)
    archiver = EventArchiver(
        feed=DynamoEventFeed(moto.models),
        archive=archive,
        locks=DynamoLockManager(moto.models),
        clock=clock,
        settle_seconds=120,
    )
    first = archiver.run()
    assert (first.events, first.written, first.duplicates) == (1500, 1500, 0)
    partitions = {(day_of(e.at), e.repository_id) for e in events}
    assert first.files == len(partitions) and first.merged == 0  # one file each already
    assert len(archive.file_keys()) == len(partitions)
    again = archiver.run()  # a rerun re-reads the settle window: nothing new is written
    assert again.written == 0 and again.files == 0
    archive.set_watermark(0)  # a run that died before advancing its watermark
    crashed = archiver.run()
    assert (crashed.events, crashed.written, crashed.duplicates) == (1500, 0, 1500)
    rows = all_rows(archive)
    assert len(rows) == 1500 and max(rows.values()) == 1
    mine = sorted(archive.read(REPOS[0], archive.days(REPOS[0])), key=lambda e: e.key)
    assert mine == sorted((e for e in events if e.repository_id == REPOS[0]), key=lambda e: e.key)


def _json(data: object) -> str:
    import json

    return json.dumps(data, separators=(",", ":"))


def test_duplicated_and_overlapping_stream_batches_never_repeat_an_id(
    archive: S3EventArchive,
) -> None:
    events = generated(2000, seed=11)
    batches = [events[i : i + 200] for i in range(0, len(events), 200)]
    deliveries = [*batches, *batches[::2]]  # every other batch delivered twice
    deliveries += [a + b for a, b in itertools.pairwise(batches)][::3]  # overlaps
    random.Random(3).shuffle(deliveries)
    written = sum(archive_batch(archive, batch).written for batch in deliveries)
    assert written == 2000
    dupes = run_query(
        archive, "SELECT id FROM events GROUP BY date, repository, id HAVING count(*) > 1"
    )
    assert dupes.rows == []
    total = run_query(archive, "SELECT count(*), count(DISTINCT id) FROM events")
    assert total.rows == [(2000, 2000)]


def test_a_batch_written_twice_at_once_is_one_object(archive: S3EventArchive) -> None:
    batch = generated(5)
    day, rid = day_of(batch[0].at), batch[0].repository_id
    same = [e for e in batch if (day_of(e.at), e.repository_id) == (day, rid)]
    assert archive.write(day, rid, same) is not None
    assert archive.write(day, rid, same) is None  # If-None-Match: the racing twin loses
    assert sum(all_rows(archive).values()) == len(same)


def test_duckdb_reads_typed_columns_json_and_partitions(archive: S3EventArchive) -> None:
    events = generated(1200, seed=5)
    archive_batch(archive, events)
    per_day = Counter(day_of(e.at) for e in events)
    got = run_query(archive, "SELECT date, count(*) FROM events GROUP BY date ORDER BY date")
    assert got.rows == sorted(per_day.items())
    by_type = run_query(
        archive,
        "SELECT type, count(*), sum(stats_total_files), max(fence), "
        "any_value(json_extract_string(data, '$.reason')) FROM events GROUP BY type ORDER BY type",
    )
    published = [e for e in events if e.type == EventType.GENERATION_PUBLISHED]
    files = sum(_total_files(e) for e in published)
    assert ("GenerationPublished", len(published), files, 8, "gen") in by_type.rows
    one = run_query(archive, f"SELECT count(*) FROM events WHERE repository = '{REPOS[1]}'")
    assert one.rows == [(sum(e.repository_id == REPOS[1] for e in events),)]


def _total_files(event: Event) -> int:
    stats = event.data["stats"]
    assert isinstance(stats, dict)
    return int(stats["totalFiles"])


def test_an_empty_archive_still_has_the_view() -> None:
    class Nothing:
        def file_keys(self) -> list[str]:
            return []

        def get(self, key: str) -> bytes:
            raise AssertionError(key)

    result = run_query(Nothing(), "SELECT count(*), min(at_seconds) FROM events")
    assert result.rows == [(0, None)] and result.files == 0


def test_duckdb_loads_no_extension(archive: S3EventArchive) -> None:
    archive_batch(archive, generated(10))
    loaded = run_query(
        archive,
        "SELECT extension_name FROM duckdb_extensions() "
        "WHERE loaded AND install_mode <> 'STATICALLY_LINKED'",
    )
    assert loaded.rows == []
    settings = run_query(
        archive,
        "SELECT value FROM duckdb_settings() WHERE name = 'autoload_known_extensions'",
    )
    assert settings.rows == [("false",)]


HOSTILE = ["github:acme:../../../escape", "a/b=c/date=1999-01-01", "..", "x\\y", "ünïcode"]


def test_hostile_repository_ids_stay_inside_their_partition(archive: S3EventArchive) -> None:
    events = [
        Event(rid, f"{int(START * 1000) + i:015d}#{i:020x}", "X", START + i / 1000, {}, None)
        for i, rid in enumerate(HOSTILE)
    ]
    with pytest.raises(InvalidRequest, match="only dots"):
        archive_batch(archive, events)  # ".." cannot be written anywhere
    archive_batch(archive, [e for e in events if e.repository_id != ".."])
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket="archive-bucket", Prefix=PREFIX)["Contents"]
    ]
    assert len(keys) == 4
    for key in keys:
        parts = key.split("/")
        assert len(parts) == 4 and parts[1] == "date=2025-12-05", key
        assert parts[2].startswith("repository=") and ".." not in parts[2].split("=", 1)[1][:2]
    found = run_query(archive, "SELECT repository_id FROM events ORDER BY repository_id")
    assert sorted(r[0] for r in found.rows) == sorted(h for h in HOSTILE if h != "..")
    assert archive.days("a/b=c/date=1999-01-01") == ["2025-12-05"]


def test_a_hostile_key_in_the_bucket_is_not_copied_out_of_the_query_directory(
    archive: S3EventArchive,
) -> None:
    archive_batch(archive, generated(20))
    name = f"strata-escape-{uuid.uuid4().hex}.parquet"
    outside = Path(tempfile.gettempdir()) / name
    s3 = boto3.client("s3", region_name="us-east-1")
    body = s3.get_object(Bucket="archive-bucket", Key=archive.file_keys()[0])["Body"].read()
    hostile = f"{PREFIX}date=2025-12-05/repository=x/../../../../{name}"
    s3.put_object(Bucket="archive-bucket", Key=hostile, Body=body)
    try:
        result = run_query(archive, "SELECT count(*) FROM events")
        assert not outside.exists(), "a key with .. was written outside the directory"
        assert result.rows == [(20,)]
    finally:
        outside.unlink(missing_ok=True)


def test_a_replay_fills_an_empty_table_and_refuses_a_used_one(
    moto: MotoWorld, archive: S3EventArchive
) -> None:
    events = generated(600, seed=2)
    archive_batch(archive, events)
    name = f"replay-{uuid.uuid4().hex[:8]}"
    ensure_table(moto.client, name, load_resources()["tables"]["repositories"])
    target = DynamoReadModelStore(name, moto.settings.region, None)
    until = START + 2 * DAY
    report = Replayer(archive=archive, target=target).replay(str(until))
    expected = fold(events, until=until)
    assert report.repositories == len(expected) == len(REPOS)
    assert {m.repository_id: m for m in target.all()} == expected
    with pytest.raises(InvalidRequest, match="not empty"):
        Replayer(archive=archive, target=target).replay(str(until))


class NoNewEvents:
    """The events table when nothing new was recorded since the last run."""

    def repository_ids(self) -> Iterator[str]:
        return iter(())

    def between(self, repository_id: str, after_ms: int, upto_ms: int) -> list[Event]:
        return []


def test_a_closed_day_is_merged_into_one_file_per_partition(
    moto: MotoWorld, archive: S3EventArchive
) -> None:
    events = [e for e in generated(600, seed=9) if e.at < START + 2 * DAY]
    runs = [[e for e in events if int((e.at - START) // 21_600) == r] for r in range(8)]
    for batch in runs:  # what 6-hourly runs leave: a file per partition and run
        archive_batch(archive, batch)
    partitions = {(day_of(e.at), e.repository_id) for e in events}
    assert len(archive.file_keys()) > 3 * len(partitions)  # about four each
    archive.set_watermark(int((START + 4 * DAY) * 1000))
    archiver = EventArchiver(
        feed=NoNewEvents(),
        archive=archive,
        locks=DynamoLockManager(moto.models),
        clock=FakeClock(START + 4 * DAY + 600),
    )
    assert archiver.run().merged == len(partitions)
    assert len(archive.file_keys()) == len(partitions)
    rows = all_rows(archive)
    assert len(rows) == len(events) and max(rows.values()) == 1
    assert archive.compacted_through() == "2025-12-08"
    assert archive.compact_day("2025-12-06") == (0, 0)  # merged already: nothing to do
    assert archiver.run().merged == 0
