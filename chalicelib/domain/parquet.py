"""Parquet files of flat, nullable columns: the part of the format the event archive needs,
in the standard library (pyarrow alone is 170 MB, far past what a Lambda package may hold).

What is written: one row group, one data page (v1) per column, every column OPTIONAL,
definition levels in the RLE/bit-packed hybrid, values PLAIN, the page GZIP-compressed
(`mtime` 0: the same rows give the same bytes); types `string` (BYTE_ARRAY, UTF8),
`bigint` (INT64), `double` (DOUBLE), `boolean` (BOOLEAN). No rows: a file with the schema
and no row group. DuckDB, Athena (Glue) and pyarrow read these files; the tests read them
back with DuckDB.

What is read: files of that shape (what `encode` writes, UNCOMPRESSED or GZIP, PLAIN
values, with or without definition levels); anything else is a ValueError naming it. The
metadata is Thrift's compact protocol, decoded by field id.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAGIC = b"PAR1"
KINDS = ("string", "bigint", "double", "boolean")

# Parquet's enums (parquet.thrift).
_PHYSICAL = {"boolean": 0, "bigint": 2, "double": 5, "string": 6}
_KIND_OF = {v: k for k, v in _PHYSICAL.items()}
_OPTIONAL = 1
_UTF8 = 0
_PLAIN, _RLE = 0, 3
_UNCOMPRESSED, _GZIP = 0, 2
_DATA_PAGE = 0

# Thrift compact protocol types.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of KINDS


# --- writing -------------------------------------------------------------------------------


def encode(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """One file of `rows` (a missing key or None is null), in order."""
    for c in columns:
        if c.kind not in KINDS:
            raise ValueError(f"column {c.name}: no Parquet kind {c.kind!r}")
    out = bytearray(MAGIC)
    chunks: list[dict[int, Any]] = []
    for column in columns if rows else ():
        values = [row.get(column.name) for row in rows]
        offset = len(out)
        page, uncompressed = _data_page(column, values)
        out += page
        chunks.append(
            {
                2: (_I64, offset),
                3: (
                    _STRUCT,
                    {
                        1: (_I32, _PHYSICAL[column.kind]),
                        2: (_LIST, (_I32, [_PLAIN, _RLE])),
                        3: (_LIST, (_BINARY, [column.name.encode()])),
                        4: (_I32, _GZIP),
                        5: (_I64, len(values)),
                        6: (_I64, uncompressed),
                        7: (_I64, len(page)),
                        9: (_I64, offset),
                    },
                ),
            }
        )
    schema = [{4: (_BINARY, b"schema"), 5: (_I32, len(columns))}]
    for column in columns:
        element = {
            1: (_I32, _PHYSICAL[column.kind]),
            3: (_I32, _OPTIONAL),
            4: (_BINARY, column.name.encode()),
        }
        if column.kind == "string":
            element[6] = (_I32, _UTF8)
        schema.append(element)
    groups = []
    if rows:
        size = sum(c[3][1][7][1] for c in chunks)
        groups.append(
            {
                1: (_LIST, (_STRUCT, chunks)),
                2: (_I64, size),
                3: (_I64, len(rows)),
            }
        )
    footer = _struct(
        {
            1: (_I32, 1),
            2: (_LIST, (_STRUCT, schema)),
            3: (_I64, len(rows)),
            4: (_LIST, (_STRUCT, groups)),
            6: (_BINARY, b"strata parquet 1"),
        }
    )
    out += footer + struct.pack("<I", len(footer)) + MAGIC
    return bytes(out)


def _data_page(column: Column, values: Sequence[Any]) -> tuple[bytes, int]:
    """A compressed data page (its header first) and the body's uncompressed size."""
    present = [v for v in values if v is not None]
    levels = _hybrid_runs([0 if v is None else 1 for v in values])
    body = struct.pack("<I", len(levels)) + levels + _plain(column, present)
    packed = gzip.compress(body, mtime=0)
    header = _struct(
        {
            1: (_I32, _DATA_PAGE),
            2: (_I32, len(body)),
            3: (_I32, len(packed)),
            5: (
                _STRUCT,
                {
                    1: (_I32, len(values)),
                    2: (_I32, _PLAIN),
                    3: (_I32, _RLE),
                    4: (_I32, _RLE),
                },
            ),
        }
    )
    return header + packed, len(header) + len(body)


def _plain(column: Column, values: Sequence[Any]) -> bytes:
    if column.kind == "string":
        out = bytearray()
        for v in values:
            if not isinstance(v, str):
                raise ValueError(f"column {column.name}: {type(v).__name__} is not a string")
            data = v.encode("utf-8")
            out += struct.pack("<I", len(data)) + data
        return bytes(out)
    if column.kind == "bigint":
        return struct.pack(f"<{len(values)}q", *(_integer(column, v) for v in values))
    if column.kind == "double":
        return struct.pack(f"<{len(values)}d", *(float(v) for v in values))
    bits = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if not isinstance(v, bool):
            raise ValueError(f"column {column.name}: {type(v).__name__} is not a boolean")
        if v:
            bits[i // 8] |= 1 << (i % 8)
    return bytes(bits)


def _integer(column: Column, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"column {column.name}: {type(value).__name__} is not an integer")
    return value


def _hybrid_runs(levels: Sequence[int]) -> bytes:
    """Bit width 1 levels as RLE runs: (run length << 1) varint, then the value's byte."""
    out = bytearray()
    i = 0
    while i < len(levels):
        j = i
        while j < len(levels) and levels[j] == levels[i]:
            j += 1
        out += _varint((j - i) << 1) + bytes([levels[i]])
        i = j
    return bytes(out)


def _struct(fields: Mapping[int, tuple[int, Any]]) -> bytes:
    out = bytearray()
    last = 0
    for field_id in sorted(fields):
        kind, value = fields[field_id]
        if kind in (_TRUE, _FALSE):
            kind = _TRUE if value else _FALSE
        delta = field_id - last
        if 0 < delta <= 15:
            out.append((delta << 4) | kind)
        else:
            out.append(kind)
            out += _varint(_zigzag(field_id))
        last = field_id
        if kind not in (_TRUE, _FALSE):
            out += _value(kind, value)
    out.append(0)
    return bytes(out)


def _value(kind: int, value: Any) -> bytes:
    if kind in (_I32, _I64, _I16):
        return _varint(_zigzag(value))
    if kind == _BINARY:
        return _varint(len(value)) + bytes(value)
    if kind == _STRUCT:
        return _struct(value)
    if kind == _LIST:
        element, items = value
        size = len(items)
        head = bytes([(size << 4) | element]) if size < 15 else bytes([0xF0 | element])
        body = b"" if size < 15 else _varint(size)
        return head + body + b"".join(_value(element, item) for item in items)
    raise ValueError(f"no writer for Thrift type {kind}")


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# --- reading -------------------------------------------------------------------------------


def decode(
    data: bytes, wanted: Sequence[str] | None = None
) -> tuple[list[Column], list[dict[str, Any]]]:
    """The file's columns and its rows (only the `wanted` columns, when given)."""
    if len(data) < 12 or data[:4] != MAGIC or data[-4:] != MAGIC:
        raise ValueError("not a Parquet file")
    (length,) = struct.unpack("<I", data[-8:-4])
    if length > len(data) - 12:
        raise ValueError("a Parquet footer longer than the file")
    meta = _Reader(data, len(data) - 8 - length).struct()
    columns = [Column(_text(e[4]), _kind(e)) for e in meta.get(2, [])[1:] if isinstance(e, dict)]
    names = {c.name for c in columns} if wanted is None else set(wanted)
    rows: list[dict[str, Any]] = []
    for group in meta.get(4, []):
        count = group[3]
        got: dict[str, list[Any]] = {}
        for chunk in group[1]:
            info = chunk[3]
            name = ".".join(_text(p) for p in info[3])
            if name in names:
                got[name] = _column_values(data, info, _KIND_OF[info[1]], count)
        rows += [{n: got[n][i] for n in got} for i in range(count)]
    return [c for c in columns if c.name in names], rows


def _kind(element: Mapping[int, Any]) -> str:
    physical = element.get(1)
    if physical not in _KIND_OF:
        raise ValueError(f"column {_text(element[4])}: Parquet type {physical} is not read here")
    return _KIND_OF[physical]


def _column_values(data: bytes, info: Mapping[int, Any], kind: str, count: int) -> list[Any]:
    codec = info[4]
    if codec not in (_UNCOMPRESSED, _GZIP):
        raise ValueError(f"Parquet codec {codec} is not read here")
    reader = _Reader(data, info[9])
    values: list[Any] = []
    while len(values) < count:
        header = reader.struct()
        size = header[3]
        raw = data[reader.at : reader.at + size]
        reader.at += size
        if header[1] != _DATA_PAGE:
            raise ValueError(f"Parquet page type {header[1]} is not read here")
        page = header[5]
        if page[2] != _PLAIN:
            raise ValueError(f"Parquet encoding {page[2]} is not read here")
        body = gzip.decompress(raw) if codec == _GZIP else raw
        values += _page_values(body, kind, page[1])
    return values


def _page_values(body: bytes, kind: str, count: int) -> list[Any]:
    (size,) = struct.unpack_from("<I", body, 0)
    levels = list(_hybrid_levels(body[4 : 4 + size], count))
    present = _plain_values(body[4 + size :], kind, sum(levels))
    it = iter(present)
    return [next(it) if level else None for level in levels]


def _hybrid_levels(data: bytes, count: int) -> Iterator[int]:
    reader = _Reader(data, 0)
    made = 0
    while made < count:
        header = reader.varint()
        if header & 1:  # bit-packed groups of 8
            groups = header >> 1
            for byte in data[reader.at : reader.at + groups]:
                for bit in range(8):
                    if made < count:
                        yield (byte >> bit) & 1
                        made += 1
            reader.at += groups
        else:
            run = header >> 1
            value = data[reader.at]
            reader.at += 1
            for _ in range(min(run, count - made)):
                yield value
            made += run


def _plain_values(data: bytes, kind: str, count: int) -> list[Any]:
    if kind == "bigint":
        return list(struct.unpack_from(f"<{count}q", data))
    if kind == "double":
        return list(struct.unpack_from(f"<{count}d", data))
    if kind == "boolean":
        return [bool((data[i // 8] >> (i % 8)) & 1) for i in range(count)]
    out: list[Any] = []
    at = 0
    for _ in range(count):
        (size,) = struct.unpack_from("<I", data, at)
        out.append(data[at + 4 : at + 4 + size].decode("utf-8"))
        at += 4 + size
    return out


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class _Reader:
    """Thrift compact protocol: structs as {field id: value}, lists as lists."""

    def __init__(self, data: bytes, at: int) -> None:
        self.data = data
        self.at = at

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise ValueError("a Parquet file cut short")
        value = self.data[self.at]
        self.at += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ValueError("a Parquet varint too long")

    def struct(self) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            kind, delta = head & 0x0F, head >> 4
            field_id = last + delta if delta else _unzigzag(self.varint())
            last = field_id
            fields[field_id] = self.value(kind)

    def value(self, kind: int) -> Any:
        if kind in (_TRUE, _FALSE):
            return kind == _TRUE
        if kind in (_I16, _I32, _I64):
            return _unzigzag(self.varint())
        if kind == _BINARY:
            size = self.varint()
            self.at += size
            return self.data[self.at - size : self.at]
        if kind in (_LIST, _SET):
            return self.items()
        if kind == _STRUCT:
            return self.struct()
        if kind == _BYTE:
            return self.byte()
        if kind == _DOUBLE:
            self.at += 8
            return struct.unpack_from("<d", self.data, self.at - 8)[0]
        raise ValueError(f"Thrift type {kind} in a Parquet footer")

    def items(self) -> list[Any]:
        head = self.byte()
        size, element = head >> 4, head & 0x0F
        if size == 15:
            size = self.varint()
        if element in (_TRUE, _FALSE):
            return [self.byte() == _TRUE for _ in range(size)]
        return [self.value(element) for _ in range(size)]


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)
