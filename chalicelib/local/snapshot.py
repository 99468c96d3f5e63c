"""The embedded AWS's state as the local stack keeps it: what a capture holds, how a restore
puts it back. store.py lays it out on disk; durability.py decides when to commit.

A capture is a point-in-time cut (the write gate is held while it runs) of:
- S3: the objects of every bucket written or deleted since the last commit (moto notes which
  keys change; objects are compared by moto's handle, which a put replaces), so a commit
  costs what is new, not the size of the index;
- DynamoDB: every item of every table, whole (local tables hold few items);
- SQS: every message of every queue (DLQs too) with the time until which it is hidden, so
  work under way resumes after a restart where it stopped: a message that was being worked on
  comes back when its visibility timeout ends, as SQS would redeliver it after a consumer
  died (by then the dead worker's lease has expired: lease < visibility). A restored message
  starts again at receive count 0;
- KMS key material (sealed tokens still open) and Secrets Manager values (generated once,
  kept for good).

What a capture covers is fixed when the stack starts (Resources), so an edit of
infra/resources.json while it runs cannot make a capture look for resources it does not have.

State dirs written before the durable store (format 1: CURRENT naming snapshots/<name>/) are
restored once from that layout; the first commit then writes the store and they are deleted.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.local.api_state import put_items, put_secret_values, send_messages
from chalicelib.local.embedded import EmbeddedAws
from chalicelib.local.gate import WriteGate
from chalicelib.local.moto_state import MotoState, ObjectHandle
from chalicelib.local.provision import INDEX_BUCKET, load_resources, physical_name
from chalicelib.local.store import Changes, StateStore
from chalicelib.settings import Settings

_LEGACY_CURRENT = "CURRENT"
_LEGACY_SNAPSHOTS = "snapshots"


@dataclass(frozen=True)
class SnapshotInfo:
    """What one restore or commit held."""

    path: Path
    objects: int
    object_bytes: int
    items: int
    messages: int
    seconds: float

    @property
    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


@dataclass(frozen=True)
class Resources:
    """Logical -> physical names of everything the durable state holds."""

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


@dataclass(frozen=True)
class Capture:
    changes: Changes
    covers: int  # the gate's mutation count when it was taken
    handles: dict[str, ObjectHandle | None]  # the objects it looked at, None: gone


class Capturer:
    """Takes captures of one embedded AWS, each relative to the last one committed.

    Objects are looked at only where moto noted a change (MotoState.take_s3_changes), and
    compared by handle with what the last commit saw; a capture that is not committed hands
    its names back (`uncommitted`) to the next one."""

    def __init__(self, state: MotoState, names: Resources) -> None:
        self._state = state
        self._names = names
        self._known: dict[str, ObjectHandle] = {}
        self._retry: set[str] = set()

    def mark_current(self, names: set[str]) -> None:
        """Take the current objects called `names` as committed already (after a restore)."""
        current = self._all_handles()
        self._known = {n: h for n, h in current.items() if n in names}

    def capture(self, gate: WriteGate, everything: bool = False) -> Capture:
        """A consistent capture; `everything` looks at every object (for measurements)."""
        with gate.exclusive() as covers:
            if everything:
                handles: dict[str, ObjectHandle | None] = {**self._all_handles()}
                handles.update({n: None for n in self._known if n not in handles})
            else:
                handles = {n: self._handle(n) for n in self._changed()}
            puts, deletes = [], []
            for name, handle in handles.items():
                if handle is None:
                    if name in self._known:
                        deletes.append(name)
                elif self._known.get(name) is not handle:
                    puts.append((name, self._state.s3_bytes(handle)))
            small = self._small()
        return Capture(Changes(puts, deletes, small), covers, handles)

    def committed(self, capture: Capture) -> None:
        for name, handle in capture.handles.items():
            if handle is None:
                self._known.pop(name, None)
            else:
                self._known[name] = handle

    def uncommitted(self, capture: Capture) -> None:
        self._retry.update(capture.handles)

    def _changed(self) -> set[str]:
        changed, self._retry = self._retry, set()
        for logical, bucket in self._names.buckets.items():
            changed.update(f"{logical}/{key}" for key in self._state.take_s3_changes(bucket))
        return changed

    def _handle(self, name: str) -> ObjectHandle | None:
        logical, _, key = name.partition("/")
        return self._state.s3_handle(self._names.buckets[logical], key)

    def _all_handles(self) -> dict[str, ObjectHandle]:
        handles = {}
        for logical, bucket in self._names.buckets.items():
            for key, handle in self._state.s3_handles(bucket).items():
                handles[f"{logical}/{key}"] = handle
        return handles

    def _small(self) -> dict[str, Any]:
        state, names = self._state, self._names
        return {
            "tables": {t: state.dynamodb_items(name) for t, name in names.tables.items()},
            "queues": {
                q: [[body, until] for body, until in state.queue_messages(name)]
                for q, name in names.queues.items()
            },
            "kms": {k: base64.b64encode(v).decode() for k, v in state.kms_keys().items()},
            "secrets": state.secret_strings(names.secrets),
        }


def restore(aws: EmbeddedAws, store: StateStore, names: Resources) -> SnapshotInfo | None:
    """Load the committed state into a freshly provisioned embedded AWS; None if there is none."""
    if store.small is None:
        return None
    started = time.perf_counter()
    state = moto_state(aws)
    small = store.small
    put_secret_values(aws, names.secrets, small["secrets"])
    state.restore_kms_keys({k: base64.b64decode(v) for k, v in small["kms"].items()})
    count = total = 0
    for name, data in store.objects():
        logical, _, key = name.partition("/")
        bucket = names.buckets.get(logical)
        if bucket is not None:  # else the resources file no longer defines it
            state.put_s3_object(bucket, key, data)
            count, total = count + 1, total + len(data)
    items = sum(
        state.put_dynamodb_items(names.tables[t], rows)
        for t, rows in small["tables"].items()
        if t in names.tables
    )
    messages = sum(
        state.put_queue_messages(names.queues[q], [(body, until) for body, until in saved])
        for q, saved in small["queues"].items()
        if q in names.queues
    )
    seconds = time.perf_counter() - started
    return SnapshotInfo(store.directory, count, total, items, messages, round(seconds, 3))


# -- format 1: whole snapshots written on a clean stop --------------------------------------


def legacy_snapshot(state_dir: Path) -> Path | None:
    try:
        name = (state_dir / _LEGACY_CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = state_dir / _LEGACY_SNAPSHOTS / name
    return path if name and (path / "meta.json").is_file() else None


def restore_legacy(aws: EmbeddedAws, path: Path, names: Resources) -> SnapshotInfo:
    started = time.perf_counter()
    state = moto_state(aws)
    put_secret_values(aws, names.secrets, _read_json(path / "secrets.json"))
    keys = _read_json(path / "kms.json")
    state.restore_kms_keys({k: base64.b64decode(v) for k, v in keys.items()})
    count = total = 0
    index: dict[str, list[list[Any]]] = _read_json(path / "s3.json")
    pack = (path / "s3.pack").read_bytes()
    for logical, entries in index.items():
        bucket = names.buckets.get(logical)
        if bucket is None:  # the resources file no longer defines it
            continue
        for key, offset, size in entries:
            state.put_s3_object(bucket, key, pack[offset : offset + size])
            count, total = count + 1, total + size
    items = put_items(aws, names.tables, _read_json(path / "dynamodb.json"))
    messages = send_messages(aws, names.queues, _read_json(path / "sqs.json"))
    seconds = round(time.perf_counter() - started, 3)
    return SnapshotInfo(path, count, total, items, messages, seconds)


def remove_legacy(state_dir: Path) -> None:
    (state_dir / _LEGACY_CURRENT).unlink(missing_ok=True)
    shutil.rmtree(state_dir / _LEGACY_SNAPSHOTS, ignore_errors=True)


def _decode_bytes(d: dict[str, Any]) -> Any:
    if d.keys() == {"__bytes__"}:
        return base64.b64decode(d["__bytes__"])
    return d


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f, object_hook=_decode_bytes)
