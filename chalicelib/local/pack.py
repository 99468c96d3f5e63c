"""The object pack's format: S3 objects as records appended to one file (store.py commits it).

A record is a header (op, name length, data length), the name (`<logical bucket>/<key>`)
and, for a PUT, the object's bytes; a DELETE carries none. Replaying a pack from its start,
later records winning, gives every live object: `Pack.index` maps each name to where its
bytes are. `Edit` is what a commit appends, computed without touching the pack until the
commit is published.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PUT, DELETE = 1, 2
HEADER = struct.Struct(">BHQ")  # op, name length, data length


class PackError(Exception):
    """A pack that does not parse."""


@dataclass
class Pack:
    name: str
    length: int = 0  # bytes that count (a longer file has a torn tail)
    live_bytes: int = 0  # bytes of the records that replay still uses
    index: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (offset, size)

    @staticmethod
    def numbered(number: int) -> str:
        return f"objects-{number:06d}.pack"

    def successor(self) -> Pack:
        return Pack(Pack.numbered(int(self.name.removeprefix("objects-")[:6]) + 1))

    def replay(self, data: Any) -> None:
        """Index the records of `data` (the pack's bytes) up to `length`."""
        offset = 0
        while offset < self.length:
            op, name_len, size = HEADER.unpack_from(data, offset)
            start = offset + HEADER.size
            name = bytes(data[start : start + name_len]).decode()
            body = start + name_len
            self.forget(name)
            if op == PUT:
                self.index[name] = (body, size)
                self.live_bytes += body + size - offset
            offset = body + size
        if offset != self.length:
            raise PackError(f"{self.name} ends inside a record")

    def forget(self, name: str) -> None:
        old = self.index.pop(name, None)
        if old is not None:
            self.live_bytes -= record_size(name, old[1])

    def garbage_after(self, edit: Edit) -> int:
        return self.length + edit.appended - edit.live_bytes


@dataclass
class Edit:
    """Records to append to a pack, and what they do to its index (None: deleted)."""

    records: list[bytes] = field(default_factory=list)
    appended: int = 0
    live_bytes: int = 0
    index: dict[str, tuple[int, int] | None] = field(default_factory=dict)

    def apply(self, pack: Pack) -> None:
        for name, entry in self.index.items():
            if entry is None:
                pack.index.pop(name, None)
            else:
                pack.index[name] = entry
        pack.length += self.appended
        pack.live_bytes = self.live_bytes

    def applied(self, pack: Pack) -> Pack:
        copy = Pack(pack.name, pack.length, pack.live_bytes, dict(pack.index))
        self.apply(copy)
        return copy


def edit(pack: Pack, puts: Iterable[tuple[str, bytes]], deletes: Iterable[str]) -> Edit:
    """The records that put and delete these objects after `pack`, without touching it."""
    change = Edit(live_bytes=pack.live_bytes)

    def entry(name: str) -> tuple[int, int] | None:
        return change.index[name] if name in change.index else pack.index.get(name)

    def add(data: bytes) -> None:
        change.records.append(data)
        change.appended += len(data)

    for name in deletes:
        old = entry(name)
        if old is not None:
            change.live_bytes -= record_size(name, old[1])
            change.index[name] = None
            add(record(DELETE, name, b""))
    for name, data in puts:
        old = entry(name)
        if old is not None:
            change.live_bytes -= record_size(name, old[1])
        put = record(PUT, name, data)
        change.index[name] = (pack.length + change.appended + len(put) - len(data), len(data))
        change.live_bytes += len(put)
        add(put)
    return change


def record(op: int, name: str, data: bytes) -> bytes:
    encoded = name.encode()
    return HEADER.pack(op, len(encoded), len(data)) + encoded + data


def record_size(name: str, size: int) -> int:
    return HEADER.size + len(name.encode()) + size


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class mapped:
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
