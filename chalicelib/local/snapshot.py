"""The local stack's memory: the embedded AWS's state saved on shutdown, restored on start.

Layout under the state directory (`.strata/` by default):

    CURRENT                       the name of the newest complete snapshot
    snapshots/<name>/meta.json    format, time, counts
                    /s3.pack      every object of the index bucket, end to end
                    /s3.json      [key, offset, size] for each object in s3.pack
                    /dynamodb.json  logical table -> items (typed JSON, as the API returns them)
                    /sqs.json     logical queue (DLQs too) -> message bodies
                    /kms.json     key id -> key material (base64), so sealed tokens still open
                    /secrets.json logical secret -> its value (generated once, kept for good)

Atomic: a snapshot is written under a hidden name, fsynced, renamed, and only then does
CURRENT (replaced with os.replace) point at it; older snapshots are deleted afterwards. A
crash at any moment leaves CURRENT naming a complete snapshot.

Mechanism: S3, SQS and KMS through moto's in-process backends (see moto_state for the
measurements); DynamoDB (scan / BatchWriteItem: its tables hold few items) and Secrets Manager
through the API. Measured by bench/local_stack_bench.py (2 cores): 300 MB shaped like an index
(78k objects, mostly small blob artifacts) saves in 1.7 s and restores in 3.6 s (5.1 s with the
machine busy); restoring costs ~50 us per object in moto and little per byte. What a snapshot
covers is fixed when the stack starts (Resources), so an edit of infra/resources.json while it
runs cannot make the save look for resources the running stack does not have.

Messages in flight: the pumps are stopped (each finishing its batch) before a save, and every
message is saved, including those received and awaiting redelivery, so work under way
resumes after a restart where it stopped. A restored message starts again at receive
count 0; the DLQs are saved and restored too.
"""

from __future__ import annotations

import base64
import json
import mmap
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.local.api_state import (
    put_items,
    put_secret_values,
    scan_tables,
    secret_values,
    send_messages,
)
from chalicelib.local.embedded import EmbeddedAws
from chalicelib.local.moto_state import MotoState
from chalicelib.local.provision import INDEX_BUCKET, load_resources, physical_name
from chalicelib.settings import Settings

FORMAT = 1
CURRENT = "CURRENT"


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    objects: int
    object_bytes: int
    items: int
    messages: int
    seconds: float

    @property
    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir())


@dataclass(frozen=True)
class Resources:
    """Logical -> physical names of everything a snapshot holds."""

    buckets: dict[str, str]
    tables: dict[str, str]
    queues: dict[str, str]
    secrets: dict[str, str]

    @classmethod
    def of(cls, settings: Settings) -> Resources:
        spec = load_resources()

        def bucket(logical: str) -> str:
            return (
                settings.names.bucket
                if logical == INDEX_BUCKET
                else physical_name(settings, logical)
            )

        return cls(
            buckets={b: bucket(b) for b in spec.get("buckets", {})},
            tables={t: physical_name(settings, t) for t in spec.get("tables", {})},
            queues={q: physical_name(settings, q) for q in spec.get("queues", {})},
            secrets={s: f"{settings.resource_prefix}/{s}" for s in spec.get("secrets", {})},
        )


def moto_state(aws: EmbeddedAws) -> MotoState:
    account = aws.client("sts").get_caller_identity()["Account"]
    return MotoState(str(account), aws.settings.region)


def current_snapshot(state_dir: Path) -> Path | None:
    try:
        name = (state_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = state_dir / "snapshots" / name
    return path if name and (path / "meta.json").is_file() else None


def save(aws: EmbeddedAws, state_dir: Path, resources: Resources | None = None) -> SnapshotInfo:
    """Write a new snapshot of the embedded AWS and make it CURRENT."""
    started = time.perf_counter()
    snapshots = state_dir / "snapshots"
    snapshots.mkdir(parents=True, exist_ok=True)
    name = time.strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() % 10**9:09d}"
    partial = snapshots / f".{name}.partial"
    partial.mkdir()
    try:
        counts = _write(aws, resources or Resources.of(aws.settings), partial)
        _write_json(partial / "meta.json", {"format": FORMAT, "savedAt": time.time(), **counts})
        _fsync_dir(partial)
        final = snapshots / name
        partial.rename(final)
        _write_text_atomically(state_dir / CURRENT, name)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _prune(snapshots, keep=name)
    return _info(final, counts, time.perf_counter() - started)


def restore(
    aws: EmbeddedAws, state_dir: Path, resources: Resources | None = None
) -> SnapshotInfo | None:
    """Load the CURRENT snapshot into a freshly provisioned embedded AWS; None if there is none."""
    path = current_snapshot(state_dir)
    if path is None:
        return None
    started = time.perf_counter()
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"snapshot {path} has format {meta.get('format')}, expected {FORMAT}")
    names = resources or Resources.of(aws.settings)
    state = moto_state(aws)
    put_secret_values(aws, names.secrets, _read_json(path / "secrets.json"))
    state.restore_kms_keys(
        {k: base64.b64decode(v) for k, v in _read_json(path / "kms.json").items()}
    )
    objects, object_bytes = _restore_objects(state, names, path)
    items = put_items(aws, names.tables, _read_json(path / "dynamodb.json"))
    messages = send_messages(aws, names.queues, _read_json(path / "sqs.json"))
    counts = {"objects": objects, "objectBytes": object_bytes, "items": items}
    return _info(path, {**counts, "messages": messages}, time.perf_counter() - started)


def _info(path: Path, counts: dict[str, int], seconds: float) -> SnapshotInfo:
    return SnapshotInfo(
        path=path,
        objects=counts["objects"],
        object_bytes=counts["objectBytes"],
        items=counts["items"],
        messages=counts["messages"],
        seconds=round(seconds, 3),
    )


def _write(aws: EmbeddedAws, names: Resources, into: Path) -> dict[str, int]:
    state = moto_state(aws)
    objects, object_bytes = _save_objects(state, names, into)
    tables = scan_tables(aws, names.tables)
    queues = {q: state.queue_bodies(name) for q, name in names.queues.items()}
    keys = {k: base64.b64encode(v).decode() for k, v in state.kms_keys().items()}
    _write_json(into / "dynamodb.json", tables)
    _write_json(into / "sqs.json", queues)
    _write_json(into / "kms.json", keys)
    _write_json(into / "secrets.json", secret_values(aws, names.secrets))
    return {
        "objects": objects,
        "objectBytes": object_bytes,
        "items": sum(len(items) for items in tables.values()),
        "messages": sum(len(bodies) for bodies in queues.values()),
    }


def _save_objects(state: MotoState, names: Resources, into: Path) -> tuple[int, int]:
    index: dict[str, list[tuple[str, int, int]]] = {}
    offset = 0
    with (into / "s3.pack").open("wb") as pack:
        for logical, bucket in names.buckets.items():
            entries = index.setdefault(logical, [])
            for key, data in state.s3_objects(bucket):
                pack.write(data)
                entries.append((key, offset, len(data)))
                offset += len(data)
        pack.flush()
        os.fsync(pack.fileno())
    _write_json(into / "s3.json", index)
    return sum(len(e) for e in index.values()), offset


def _restore_objects(state: MotoState, names: Resources, path: Path) -> tuple[int, int]:
    index: dict[str, list[list[Any]]] = _read_json(path / "s3.json")
    count = total = 0
    with (path / "s3.pack").open("rb") as f, _mapped(f) as pack:
        for logical, entries in index.items():
            bucket = names.buckets.get(logical)
            if bucket is None:  # the resources file no longer defines it
                continue
            for key, offset, size in entries:
                state.put_s3_object(bucket, key, pack[offset : offset + size])
                count += 1
                total += size
    return count, total


class _mapped:
    """A read-only memory map of a file, or empty bytes for an empty file (mmap refuses)."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self._map: mmap.mmap | None = None

    def __enter__(self) -> Any:
        if os.fstat(self._f.fileno()).st_size == 0:
            return b""
        self._map = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def __exit__(self, *exc: object) -> None:
        if self._map is not None:
            self._map.close()


def _encode_bytes(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(value).decode()}
    raise TypeError(f"cannot store {type(value).__name__} in a snapshot")


def _decode_bytes(d: dict[str, Any]) -> Any:
    if d.keys() == {"__bytes__"}:
        return base64.b64decode(d["__bytes__"])
    return d


def _write_json(path: Path, value: object) -> None:
    with path.open("w", encoding="utf-8") as f:
        json.dump(value, f, default=_encode_bytes, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f, object_hook=_decode_bytes)


def _write_text_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(snapshots: Path, keep: str) -> None:
    """Delete every snapshot but `keep`, and partial ones a crash may have left behind."""
    for entry in snapshots.iterdir():
        if entry.name != keep and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
