"""The events archive (ADR 23): archive throughput per worker, archive bytes per event,
replay time for 100k events, and the stream-vs-compactor layouts the ADR compares.

    python bench/events_bench.py                  # 100k events, 30 days, 40 repositories
    python bench/events_bench.py --events 20000

Everything runs on moto in this process (S3 and DynamoDB as the local stack has them), so
the figures are this machine's CPU plus moto's in-process calls, not S3's latency.

- archive: one writer (services/event_archiver.archive_batch) over every generated event, a
  day at a time (the layout a compacted archive has: one file per repository and day):
  events/s, files, bytes per event, a DuckDB query's time;
- compare (the ADR's measurement), on the first --compare-events events: hourly compactor
  runs (a file per partition and run, before the closed days are merged), the merged
  layout, and a DynamoDB stream consumer's (100 records a batch, each written at once);
- compactor: a whole scheduled run (EventArchiver.run) over events put in the events table:
  the table reads included;
- replay: `Replayer.replay` of every archived event into read models (into memory: the
  table's writes are one per repository), and one repository's status at a time.

Results also go to bench/results/events_bench.json. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _env  # noqa: F401  (repository on sys.path, fake AWS credentials)
import boto3
from moto import mock_aws

from chalicelib.adapters.duckdb_event_query import run_query
from chalicelib.adapters.dynamo_event_feed import DynamoEventFeed
from chalicelib.adapters.dynamo_models import bind_models
from chalicelib.adapters.dynamo_stores import DynamoLockManager
from chalicelib.adapters.s3_event_archive import S3EventArchive
from chalicelib.domain.event_replay import ReadModel
from chalicelib.domain.events import Event, EventType
from chalicelib.local.provision import provision
from chalicelib.services.event_archiver import EventArchiver, archive_batch
from chalicelib.services.event_history import Replayer
from chalicelib.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "events_bench.json"
START = 1_764_892_800.0  # 2025-12-05T00:00:00Z
DAY = 86_400.0
HOUR = 3_600.0


def generated(n: int, days: int, repos: int, seed: int = 1) -> list[Event]:
    """What an index flow appends, in proportion: requests, starts, publishes (with stats),
    some failures and webhooks; time-ordered, as the table and a stream hold them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = START + rng.uniform(0, days * DAY)
        r = rng.randrange(repos)
        rid = f"github:owner{r % 7}:repo{r}"
        sha = f"{rng.getrandbits(160):040x}"
        kind = rng.choices(
            [
                EventType.INDEX_REQUESTED,
                EventType.INDEX_STARTED,
                EventType.GENERATION_PUBLISHED,
                EventType.WEBHOOK_RECEIVED,
                EventType.INDEX_FAILED,
            ],
            weights=[3, 3, 3, 2, 1],
        )[0]
        data: dict[str, Any] = {"sha": sha}
        if kind is EventType.INDEX_REQUESTED:
            data |= {"source": "github", "force": False, "branch": "main", "requestedAt": at}
        elif kind is EventType.INDEX_STARTED:
            data |= {"jobId": f"{rng.getrandbits(64):016x}", "fence": i % 50, "numFiles": 900}
        elif kind is EventType.GENERATION_PUBLISHED:
            stats = {"totalFiles": 900, "totalSize": 4_000_000, "chunks": 5_000}
            data |= {"fence": i % 50, "indexedAt": at, "stats": stats | {"languages": {"py": 9}}}
        elif kind is EventType.INDEX_FAILED:
            data |= {"error": "the remote repository could not be reached"}
        else:
            data |= {"after": sha, "before": sha[::-1], "deliveryId": f"{i:08d}"}
        key = f"{int(at * 1000):015d}#{i:012x}{rng.getrandbits(32):08x}"
        out.append(Event(rid, key, kind, at, data, "github"))
    return sorted(out, key=lambda e: e.key)


def windows(events: list[Event], seconds: float) -> Iterator[list[Event]]:
    """The events of each `seconds` window: what one compactor run archives."""
    batch: list[Event] = []
    end = START + seconds
    for e in events:
        while e.at >= end:
            if batch:
                yield batch
            batch, end = [], end + seconds
        batch.append(e)
    if batch:
        yield batch


def archive_size(s3: Any, bucket: str) -> tuple[int, int]:
    files = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
        for o in page.get("Contents", []):
            files, size = files + 1, size + int(o["Size"])
    return files, size


def layout(s3: Any, bucket: str, events: list[Event], batches: list[list[Event]]) -> dict:  # type: ignore[type-arg]
    s3.create_bucket(Bucket=bucket)
    archive = S3EventArchive(s3, bucket)
    started = time.perf_counter()
    for batch in batches:
        archive_batch(archive, batch)
    took = time.perf_counter() - started
    files, size = archive_size(s3, bucket)
    sql = "SELECT type, count(*), count(DISTINCT repository_id) FROM events GROUP BY type"
    q0 = time.perf_counter()
    run_query(archive, sql)
    query = time.perf_counter() - q0
    return {
        "batches": len(batches),
        "seconds": round(took, 2),
        "events_per_second": round(len(events) / took),
        "files": files,
        "bytes": size,
        "bytes_per_event": round(size / len(events), 1),
        "query_seconds": round(query, 2),
    }


def compactor_run(settings: Settings, events: list[Event]) -> dict:  # type: ignore[type-arg]
    models = bind_models(settings.names.tables, settings.region, None)
    table = models.events
    with table.batch_write() as batch:
        for e in events:
            item = table(e.repository_id, e.key, type=e.type, at=e.at, data=json.dumps(e.data))
            batch.save(item)
    for rid in sorted({e.repository_id for e in events}):
        models.repositories(rid, status="ready").save()

    class Clock:
        def now(self) -> float:
            return max(e.at for e in events) + 3600

    archive = S3EventArchive(boto3.client("s3"), settings.names.bucket)
    archiver = EventArchiver(
        feed=DynamoEventFeed(models),
        archive=archive,
        locks=DynamoLockManager(models),
        clock=Clock(),
    )
    started = time.perf_counter()
    report = archiver.run()
    took = time.perf_counter() - started
    return {
        "events": report.events,
        "files": report.files,
        "seconds": round(took, 2),
        "events_per_second": round(report.events / took),
    }


class Memory:
    def __init__(self) -> None:
        self.models: dict[str, ReadModel] = {}

    def is_empty(self) -> bool:
        return not self.models

    def put(self, model: ReadModel) -> None:
        self.models[model.repository_id] = model

    def all(self) -> Iterator[ReadModel]:
        return iter(self.models.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repos", type=int, default=40)
    parser.add_argument("--compactor-events", type=int, default=5_000)
    parser.add_argument("--compare-events", type=int, default=10_000)
    args = parser.parse_args()
    events = generated(args.events, args.days, args.repos)
    out: dict[str, Any] = {"events": args.events, "days": args.days, "repositories": args.repos}
    with mock_aws():
        s3 = boto3.client("s3")
        daily = list(windows(events, DAY))  # what the compactor leaves once days are merged
        out["archive"] = layout(s3, "bench-daily", events, daily)
        subset = events[: args.compare_events]
        out["compare_events"] = len(subset)
        out["compare_compactor"] = layout(s3, "bench-c", subset, list(windows(subset, HOUR)))
        out["compare_compacted"] = layout(s3, "bench-d", subset, list(windows(subset, DAY)))
        streamed = [subset[i : i + 100] for i in range(0, len(subset), 100)]
        out["compare_stream"] = layout(s3, "bench-s", subset, streamed)

        archive = S3EventArchive(s3, "bench-daily")
        started = time.perf_counter()
        report = Replayer(archive=archive, target=Memory()).replay(str(START + 400 * DAY))
        out["replay"] = {
            "events": report.events,
            "repositories": report.repositories,
            "seconds": round(time.perf_counter() - started, 2),
        }
        settings = Settings(resource_prefix="bench", bucket_name="bench-compactor")
        provision(settings)
        out["compactor_run"] = compactor_run(settings, events[: args.compactor_events])
    print(json.dumps(out, indent=2))
    a, run, replay = out["archive"], out["compactor_run"], out["replay"]
    print(
        f"archive, one worker: {a['events_per_second']} events/s written "
        f"({run['events_per_second']} events/s for a whole compactor run, table reads "
        f"included); {a['bytes_per_event']} B/event in {a['files']} files"
    )
    for name in ("compactor", "compacted", "stream"):
        c = out[f"compare_{name}"]
        print(
            f"  {out['compare_events']} events as {name} batches: {c['files']} files, "
            f"{c['bytes_per_event']} B/event, {c['events_per_second']} events/s, "
            f"DuckDB query {c['query_seconds']} s"
        )
    print(f"replay of {replay['events']} events: {replay['seconds']} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
