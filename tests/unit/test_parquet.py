"""domain/parquet.py: what it writes reads back the same, through itself and through DuckDB
(the engine `strata events query` runs), with nulls, unicode, every kind, no rows and more
than 15 columns (Thrift's long list header); what is not one of its files is a ValueError."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chalicelib.domain.parquet import Column, decode, encode

COLUMNS = [Column("id", "string"), Column("n", "bigint"), Column("x", "double")]
COLUMNS += [Column("b", "boolean"), Column("s", "string")]
COLUMNS += [Column(f"extra_{i}", "bigint") for i in range(14)]  # 19 in all


def rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)

    def maybe(value: object) -> object:
        return None if rng.random() < 0.3 else value

    made = []
    for i in range(count):
        row = {
            "id": f"event-{i:05d}",
            "n": maybe(rng.randint(-(2**63), 2**63 - 1)),
            "x": maybe(rng.uniform(-1e12, 1e12)),
            "b": maybe(rng.random() < 0.5),
            "s": maybe("".join(rng.choice("aé✓\n\"'\\ z") for _ in range(rng.randint(0, 30)))),
        }
        row |= {f"extra_{j}": maybe(i * j) for j in range(14)}
        made.append(row)
    return made


def test_rows_read_back_the_same_through_the_codec_and_through_duckdb(tmp_path: Path) -> None:
    written = rows(1_000)
    data = encode(COLUMNS, written)
    columns, back = decode(data)
    assert columns == COLUMNS and back == written

    path = tmp_path / "events.parquet"
    path.write_bytes(data)
    names = ", ".join(c.name for c in COLUMNS)
    read = duckdb.execute(f"SELECT {names} FROM read_parquet('{path}') ORDER BY id").fetchall()
    assert read == [tuple(r[c.name] for c in COLUMNS) for r in written]
    described = duckdb.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    kinds = {name: kind for name, kind, *_ in described}
    assert kinds["id"] == "VARCHAR" and kinds["n"] == "BIGINT"
    assert kinds["x"] == "DOUBLE" and kinds["b"] == "BOOLEAN"


def test_no_rows_is_a_file_with_the_schema(tmp_path: Path) -> None:
    data = encode(COLUMNS, [])
    assert decode(data) == (COLUMNS, [])
    path = tmp_path / "empty.parquet"
    path.write_bytes(data)
    assert duckdb.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall() == [(0,)]


def test_the_same_rows_make_the_same_bytes_and_one_column_can_be_read_alone() -> None:
    written = rows(50)
    assert encode(COLUMNS, written) == encode(COLUMNS, written)
    columns, ids = decode(encode(COLUMNS, written), wanted=["id"])
    assert columns == [COLUMNS[0]] and ids == [{"id": r["id"]} for r in written]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"id": 5}, "id: int is not a string"),
        ({"n": "5"}, "n: str is not an integer"),
        ({"n": True}, "n: bool is not an integer"),
        ({"b": 1}, "b: int is not a boolean"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused(row: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        encode(COLUMNS, [row])


def test_what_is_not_one_of_its_files_is_a_value_error() -> None:
    data = encode(COLUMNS, rows(20))
    broken = [
        b"",
        b"PAR1PAR1",
        b"XXXX" + data[4:],
        data[:-4] + b"XXXX",
        data[:4] + data[-8:],  # a footer longer than the file
        data[:4] + b"\xff" * 64 + data[-8:-4] + b"PAR1",
    ]
    for bad in broken:
        with pytest.raises(ValueError):
            decode(bad)
