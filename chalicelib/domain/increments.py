"""How a new generation relates to the last one: what to fetch, what to tombstone, and
when to compact. Pure: decided from file maps, no storage.

A generation's lexical index is a BASE segment (a full build, shared by later generations)
plus at most one DELTA segment holding every live file that differs from the base, and
TOMBSTONES naming the base's live paths that changed or disappeared. The delta is
cumulative (rebuilt from all differences each time), so there is never more than one.
When the delta's chunks pass `COMPACT_AT` of the base's live chunks, the generation is
written as a new base instead (measured in bench/delta_bench.py). `decide_layering` is
the one place that chooses base or delta: every layered segment kind follows its answer.

The files index is a small TABLE of every file (identity, skip reason, chunk count) plus the
symbols and references of live files split into `SHARDS` objects by a hash of the path, so a
push rewrites the shards of the paths it changed and shares the others (ADR 10).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.domain.models import BlobArtifact, FileRecord
from chalicelib.domain.planning import PlannedFile

COMPACT_AT = 0.10
SHARDS = 16
SHARD_SEGMENT = "symbols-"  # a shard's name in a manifest's segments: symbols-00 ...


@dataclass(frozen=True)
class Increment:
    """`fetch`: files whose artifacts must be read; `delta`: live-candidate paths that differ
    from the base; `tombstones`: base live paths changed or deleted; `full` without a base."""

    full: bool
    fetch: tuple[PlannedFile, ...]
    delta: tuple[str, ...]
    tombstones: tuple[str, ...]


def _same(record: FileRecord | None, f: PlannedFile) -> bool:
    return record is not None and record.oid == f.oid and record.language == f.language


def plan_increment(
    files: Sequence[PlannedFile],
    previous: Mapping[str, FileRecord] | None,
    base: Mapping[str, FileRecord] | None,
) -> Increment:
    if previous is None or base is None:
        return Increment(True, tuple(files), (), ())
    differs = [f for f in files if not _same(base.get(f.path), f)]
    unknown = [f for f in files if not _same(previous.get(f.path), f)]
    fetch = {f.path: f for f in differs + unknown}
    current = {f.path: f for f in files}
    tombstones = [
        path
        for path, record in base.items()
        if record.skipped is None and (path not in current or not _same(record, current[path]))
    ]
    return Increment(
        False,
        tuple(fetch[p] for p in sorted(fetch)),
        tuple(sorted(f.path for f in differs)),
        tuple(sorted(tombstones)),
    )


def file_records(
    files: Sequence[PlannedFile],
    previous: Mapping[str, FileRecord] | None,
    artifacts: Mapping[str, BlobArtifact],
) -> list[FileRecord]:
    """One record per file: from its fresh artifact, else carried over from last time."""
    records = []
    for f in files:
        a = artifacts.get(f.path)
        if a is None:
            kept = previous.get(f.path) if previous else None
            if kept is None or not _same(kept, f):
                raise ValueError(f"no artifact and no record for {f.path}")
            records.append(kept)
            continue
        records.append(
            FileRecord(
                f.path, f.oid, f.language, f.size, a.skipped, len(a.chunks), a.symbols, a.references
            )
        )
    return records


def needs_compaction(
    delta_paths: Sequence[str],
    records: Mapping[str, FileRecord],
    base: Mapping[str, FileRecord],
    threshold: float = COMPACT_AT,
) -> bool:
    delta_chunks = sum(records[p].chunks for p in delta_paths if records[p].skipped is None)
    base_chunks = sum(r.chunks for r in base.values() if r.skipped is None)
    return delta_chunks > threshold * max(1, base_chunks)


@dataclass(frozen=True)
class Layering:
    """How this generation writes its layered segments (lexical; any later kind alike):
    `new_base` over every live file, or a delta of the live `delta` paths over the previous
    base with `tombstones` (the base paths it hides). A new base over a previous one (a
    compaction) carries the same `delta` and `tombstones`: base + delta - tombstones is the
    new base, so it can be merged from the old segments instead of every artifact."""

    new_base: bool
    delta: tuple[str, ...] = ()
    tombstones: tuple[str, ...] = ()


def decide_layering(
    inc: Increment,
    records: Mapping[str, FileRecord],
    base: Mapping[str, FileRecord] | None,
    threshold: float = COMPACT_AT,
) -> Layering:
    """A new base without one, or when the delta outgrows `threshold` of it; else a delta."""
    if inc.full or base is None:
        return Layering(new_base=True)
    live = tuple(p for p in inc.delta if records[p].skipped is None)
    return Layering(needs_compaction(inc.delta, records, base, threshold), live, inc.tombstones)


def shard_of(path: str) -> int:
    """The files-index shard of `path`: stable across processes and generations."""
    return zlib.crc32(path.encode("utf-8", "surrogatepass")) % SHARDS


def shard_segment(shard: int) -> str:
    return f"{SHARD_SEGMENT}{shard:02d}"


def changed_shards(
    files: Sequence[PlannedFile], previous: Mapping[str, FileRecord] | None
) -> set[int]:
    """Shards holding a path added, changed or deleted since `previous` (all without it)."""
    if previous is None:
        return set(range(SHARDS))
    current = {f.path for f in files}
    touched: Iterable[str] = [
        *(f.path for f in files if not _same(previous.get(f.path), f)),
        *(p for p in previous if p not in current),
    ]
    return {shard_of(p) for p in touched}
