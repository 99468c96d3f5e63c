"""Archived events as Parquet files: the schema, and rows to bytes and back
(domain/parquet.py writes and reads them; no library is needed at run time).

The schema is stable (ADR 23): columns are only ever appended, with their types fixed here
and in the Glue table (infra/glue.py takes GLUE_TYPES from here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.domain import parquet
from chalicelib.domain.event_archive import COLUMNS, Row

# Column -> its Glue (Hive) type, which is also its Parquet kind (domain/parquet.py).
GLUE_TYPES: dict[str, str] = {
    "id": "string",
    "type": "string",
    "repository_id": "string",
    "actor": "string",
    "at_seconds": "double",  # epoch seconds, as recorded (DuckDB: to_timestamp(at_seconds))
    "sha": "string",
    "job_id": "string",
    "fence": "bigint",
    "error": "string",
    "source": "string",
    "force": "boolean",
    "branch": "string",
    "head_sha": "string",
    "stats_total_files": "bigint",
    "stats_total_size": "bigint",
    "stats_chunks": "bigint",
    "data": "string",  # JSON object: the data fields not typed above
}
assert tuple(GLUE_TYPES) == COLUMNS, "domain/event_archive.py and this schema disagree"
SCHEMA = tuple(parquet.Column(name, kind) for name, kind in GLUE_TYPES.items())


def encode(rows: Sequence[Row]) -> bytes:
    """One Parquet file of `rows`, in order."""
    return parquet.encode(SCHEMA, rows)


def decode(data: bytes) -> list[dict[str, Any]]:
    """The rows of one archived file; columns it lacks (an older file) read as None."""
    _, rows = parquet.decode(data)
    for row in rows:
        for name in COLUMNS:
            row.setdefault(name, None)
    return rows


def ids(data: bytes) -> list[str]:
    """Only the `id` column of one archived file."""
    _, rows = parquet.decode(data, wanted=["id"])
    return [str(row["id"]) for row in rows]


def empty_file() -> bytes:
    """A file with the schema and no rows (DuckDB's view needs one file to exist)."""
    return encode([])
