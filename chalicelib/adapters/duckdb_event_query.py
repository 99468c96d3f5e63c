"""DuckDBEventQuery: SQL over the events archive, in this process, with no network.

The archive's files are copied from S3 (the local stack's moto bucket or a deployed one)
into a temporary directory, in their hive layout, and DuckDB reads them there as the view
`events` (the Parquet columns, plus `date` and `repository` from the path). DuckDB never
installs or loads an extension (its Parquet reader is built in): httpfs is not used, so
nothing is downloaded at run time.

A key is copied only when it is an archive file in the layout (`events/date=<day>/
repository=<value>/<name>.parquet`) and its local path stays inside the directory.

Third-party: duckdb (a development/operator dependency, not in the Lambda package).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chalicelib.domain import archive_files
from chalicelib.domain.event_archive import PREFIX, day_in_key

READERS = 8
_NO_EXTENSIONS: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


class ArchiveFiles(Protocol):
    def file_keys(self) -> list[str]: ...

    def get(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    files: int  # archive files the view read


def local_path(root: Path, key: str) -> Path | None:
    """Where `key` is copied under `root`; None for a key outside the layout or one whose
    path would leave `root` (`..`, absolute parts, a backslash)."""
    parts = key.split("/")
    if day_in_key(key) is None or not parts[2].startswith("repository="):
        return None
    if not parts[3].endswith(".parquet") or any(
        p in ("", ".", "..") or "\\" in p or "\0" in p for p in parts
    ):
        return None
    path = (root / key).resolve()
    if not path.is_relative_to(root.resolve()):
        return None
    return path


def _copy(files: ArchiveFiles, root: Path, keys: Iterable[str]) -> int:
    targets = [(k, p) for k in keys if (p := local_path(root, k)) is not None]

    def fetch(item: tuple[str, Path]) -> None:
        key, path = item
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files.get(key))

    with ThreadPoolExecutor(READERS) as pool:
        list(pool.map(fetch, targets))
    return len(targets)


def connect(root: Path) -> Any:
    """A DuckDB connection with `events` over the files under root/events/."""
    import duckdb

    empty = root / PREFIX / "date=1970-01-01" / "repository=_" / "empty.parquet"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_bytes(archive_files.empty_file())  # the view's schema when none exist
    con = duckdb.connect(":memory:", config=_NO_EXTENSIONS)
    pattern = str(root / PREFIX / "*" / "*" / "*.parquet").replace("'", "''")
    con.execute(
        "CREATE VIEW events AS SELECT * FROM read_parquet("
        f"'{pattern}', hive_partitioning = true, hive_types_autocast = false, "
        "union_by_name = true)"
    )
    return con


def run_query(files: ArchiveFiles, sql: str) -> QueryResult:
    """Run `sql` (the operator's own) over a fresh copy of the archive."""
    with tempfile.TemporaryDirectory(prefix="strata-events-") as tmp:
        root = Path(tmp)
        copied = _copy(files, root, files.file_keys())
        con = connect(root)
        try:
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchall()
        finally:
            con.close()
    return QueryResult(columns, rows, copied)
