"""The local stack's state on disk: an append-only object pack and a small manifest.

    <state dir>/aws/MANIFEST            the committed state (JSON, replaced atomically)
    <state dir>/aws/objects-<n>.pack    S3 objects, appended as records

The pack (pack.py) holds S3 objects as put and delete records. S3 objects here are immutable
once written (content-addressed artifacts, generation segments) or short-lived (job staging),
so a commit appends only what is new. The MANIFEST names the pack and how many of its bytes
count, and carries what is small enough to rewrite whole at every commit: DynamoDB items,
queue messages, KMS key material and secret values.

Commit: append the new records and fsync the pack; write MANIFEST.tmp, fsync it, rename it
over MANIFEST, fsync the directory. A crash before the rename leaves the old MANIFEST, which
counts only bytes fsynced before it was written; bytes past its count are a torn tail, cut
off when the store is opened, together with a leftover MANIFEST.tmp and any pack the MANIFEST
does not name (a compaction that did not finish).

Compaction keeps the pack bounded: when its garbage (deleted or replaced objects, deletion
records) would exceed both its live bytes and `compact_min_bytes`, the commit writes the live
records and the new ones to a fresh pack, and deletes the old pack once the MANIFEST names
the fresh one.

Every file is created 0600 (file_modes.py keeps the directories 0700).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.local.pack import PUT, Edit, Pack, PackError, edit, mapped, record, write_all

FORMAT = 2
MANIFEST = "MANIFEST"
_COMPACT_MIN_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Changes:
    """What a commit makes durable: S3 objects written and deleted since the last commit, by
    `<logical bucket>/<key>`, and the whole small state (JSON-ready)."""

    puts: list[tuple[str, bytes]]
    deletes: list[str]
    small: dict[str, Any]


@dataclass(frozen=True)
class CommitStats:
    written_bytes: int
    fsyncs: int
    compacted: bool
    seconds: float


class StateStoreError(Exception):
    """The state on disk cannot be read."""


class StateStore:
    def __init__(self, directory: Path, compact_min_bytes: int = _COMPACT_MIN_BYTES) -> None:
        self.directory = directory
        self.compact_min_bytes = compact_min_bytes
        self.small: dict[str, Any] | None = None  # None: nothing committed yet
        self._pack = Pack(Pack.numbered(1))
        self._seq = 0
        self._open()

    # -- reading -------------------------------------------------------------------------

    def _open(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _unlink(self.directory / (MANIFEST + ".tmp"))
        try:
            manifest = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            manifest = None
        if manifest is not None:
            if manifest.get("format") != FORMAT:
                raise StateStoreError(
                    f"{self.directory / MANIFEST} has format {manifest.get('format')}, "
                    f"expected {FORMAT}"
                )
            self._seq = int(manifest["seq"])
            self.small = manifest["small"]
            self._pack = Pack(manifest["pack"], int(manifest["packBytes"]))
        for stray in self.directory.glob("objects-*.pack"):
            if stray.name != self._pack.name:
                stray.unlink()
        path = self.directory / self._pack.name
        if self._pack.length or path.exists():
            self._cut_torn_tail(path)
            self._replay(path)

    def _cut_torn_tail(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise StateStoreError(f"{path} is missing; the MANIFEST counts on it") from None
        if size < self._pack.length:
            raise StateStoreError(f"{path} is shorter than its MANIFEST says")
        if size > self._pack.length:
            os.truncate(path, self._pack.length)

    def _replay(self, path: Path) -> None:
        with path.open("rb") as f, mapped(f) as data:
            try:
                self._pack.replay(data)
            except PackError as exc:
                raise StateStoreError(str(exc)) from None

    @property
    def committed(self) -> bool:
        return self.small is not None

    @property
    def object_count(self) -> int:
        return len(self._pack.index)

    @property
    def object_bytes(self) -> int:
        return sum(size for _, size in self._pack.index.values())

    def object_names(self) -> set[str]:
        return set(self._pack.index)

    def objects(self) -> Iterator[tuple[str, bytes]]:
        """Every committed object as (name, bytes), in pack order."""
        if not self._pack.index:
            return
        with (self.directory / self._pack.name).open("rb") as f, mapped(f) as data:
            for name, (offset, size) in sorted(self._pack.index.items(), key=lambda e: e[1]):
                yield name, data[offset : offset + size]

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())

    # -- writing -------------------------------------------------------------------------

    def commit(self, changes: Changes) -> CommitStats | None:
        """Make `changes` durable; None when they change nothing."""
        prepared = self.prepare(changes)
        if prepared is None:
            return None
        return prepared.publish()

    def prepare(self, changes: Changes) -> Prepared | None:
        """Write everything but the rename that commits it (a crash after this loses only
        these changes)."""
        if not changes.puts and not changes.deletes and changes.small == self.small:
            return None
        started = time.perf_counter()
        current = self._pack
        change = edit(current, changes.puts, changes.deletes)
        fsyncs = 2  # MANIFEST.tmp, then the directory at publish
        if current.garbage_after(change) > max(self.compact_min_bytes, change.live_bytes):
            pack = self._compacted(change.applied(current), dict(changes.puts))
            written, fsyncs = pack.length, fsyncs + 2
        else:
            pack = None
            written = self._append(current, change.records)
            fsyncs += 1 if change.records else 0
        manifest = {
            "format": FORMAT,
            "seq": self._seq + 1,
            "savedAt": time.time(),
            "pack": pack.name if pack else current.name,
            "packBytes": pack.length if pack else current.length + change.appended,
            "small": changes.small,
        }
        tmp = self.directory / (MANIFEST + ".tmp")
        written += _write_synced(tmp, json.dumps(manifest, separators=(",", ":")).encode())
        return Prepared(self, pack or change, changes.small, written, fsyncs, started)

    def _append(self, pack: Pack, records: list[bytes]) -> int:
        if not records:
            return 0
        fd = os.open(self.directory / pack.name, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            # Past the committed length lies at most what an unpublished commit left.
            os.ftruncate(fd, pack.length)
            os.lseek(fd, pack.length, os.SEEK_SET)
            for data in records:
                write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return sum(len(r) for r in records)

    def _compacted(self, pack: Pack, new: dict[str, bytes]) -> Pack:
        """A fresh pack holding `pack`'s live records, `new` ones taken from memory."""
        fresh = pack.successor()
        old = os.open(self.directory / self._pack.name, os.O_RDONLY | os.O_CREAT, 0o600)
        fd = os.open(self.directory / fresh.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for name, (offset, size) in sorted(pack.index.items(), key=lambda e: e[1]):
                data = new[name] if name in new else os.pread(old, size, offset)
                put = record(PUT, name, data)
                write_all(fd, put)
                fresh.index[name] = (fresh.length + len(put) - size, size)
                fresh.length += len(put)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.close(old)
        fresh.live_bytes = fresh.length
        _fsync_dir(self.directory)
        return fresh

    def _adopt(self, change: Pack | Edit, small: dict[str, Any]) -> None:
        old = self._pack.name
        if isinstance(change, Edit):
            change.apply(self._pack)
        else:
            self._pack = change
        self.small, self._seq = small, self._seq + 1
        if old != self._pack.name:
            _unlink(self.directory / old)


@dataclass
class Prepared:
    """A commit written but not yet visible: publish() makes it the committed state."""

    store: StateStore
    change: Pack | Edit  # a fresh pack (compaction), or what is appended to the current one
    small: dict[str, Any]
    written: int
    fsyncs: int
    started: float

    def publish(self) -> CommitStats:
        directory = self.store.directory
        os.replace(directory / (MANIFEST + ".tmp"), directory / MANIFEST)
        _fsync_dir(directory)
        self.store._adopt(self.change, self.small)
        seconds = time.perf_counter() - self.started
        compacted = isinstance(self.change, Pack)
        return CommitStats(self.written, self.fsyncs, compacted, round(seconds, 6))


def _write_synced(path: Path, data: bytes) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(data)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
