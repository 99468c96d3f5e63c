"""Writes a generation's segments: the files index, and a lexical base or a delta over the
last base.

Reads only the artifacts of files that differ from the last generation or its base; every
other file's identity and counts come from the last generation's file table, and its symbols
from the last generation's shards, of which only those holding a changed path are rewritten.
The code graph is not written: readers build it from the shards (services/generations.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chalicelib.domain import layout
from chalicelib.domain.bundles import Member, decode_bundle
from chalicelib.domain.codecs import (
    decode_artifact,
    decode_file_table,
    decode_graph_files,
    encode_file_table,
    encode_graph_files,
)
from chalicelib.domain.graph import GraphFile
from chalicelib.domain.increments import (
    SHARDS,
    Layering,
    changed_shards,
    decide_layering,
    file_records,
    plan_increment,
    shard_of,
    shard_segment,
)
from chalicelib.domain.languages import extension_of
from chalicelib.domain.lexical import LexicalSegment, SegmentFile
from chalicelib.domain.lexical_view import compact
from chalicelib.domain.models import BlobArtifact, FileRecord, Manifest, Stats
from chalicelib.domain.planning import Plan, PlannedFile
from chalicelib.errors import NotFound
from chalicelib.parsers import PARSER_VERSION
from chalicelib.ports import BlobStore

_FETCH_THREADS = 16
TABLE = "file_table"  # this generation's file table
BASE_TABLE = "base_table"  # the file table of the generation that wrote the current base


@dataclass(frozen=True)
class Built:
    segments: dict[str, str]
    tombstones: tuple[str, ...]
    records: list[FileRecord]


class GenerationBuilder:
    def __init__(self, blobs: BlobStore, compact_at: float) -> None:
        self._blobs = blobs
        self._compact_at = compact_at

    def build(self, plan: Plan, previous: Manifest | None, prefix: str) -> Built:
        last = self._table(previous, TABLE)
        base = self._table(previous, BASE_TABLE) if last is not None else None
        inc = plan_increment(plan.files, last, base)
        artifacts = self._load(inc.fetch, plan.batches)
        records = file_records(plan.files, last, artifacts)
        by_path = {r.path: r for r in records}
        table_key = layout.segment_key(prefix, "file-table")
        self._blobs.put(table_key, encode_file_table(records), if_absent=True)
        kept = previous.segments if previous is not None and last is not None else {}
        segments = {TABLE: table_key}
        segments |= self._shards(
            plan, last=last, kept=kept, artifacts=artifacts, records=by_path, prefix=prefix
        )
        layers = decide_layering(inc, by_path, base, self._compact_at)
        if layers.new_base or previous is None:
            old_base = previous.segments.get("lexical") if previous and base is not None else None
            segments |= (
                self._merged_base(plan, layers, old_base, artifacts, prefix)
                if old_base
                else self._base(plan, artifacts, by_path, prefix)
            )
            segments[BASE_TABLE] = table_key
            return Built(segments, (), records)
        segments |= self._delta(plan, layers, previous, artifacts, prefix)
        return Built(segments, layers.tombstones, records)

    def _table(self, manifest: Manifest | None, name: str) -> dict[str, FileRecord] | None:
        if manifest is None or manifest.parser_version != PARSER_VERSION:
            return None
        key = manifest.segments.get(name)
        return decode_file_table(self._blobs.get(key)) if key else None

    def _shards(
        self,
        plan: Plan,
        *,
        last: Mapping[str, FileRecord] | None,
        kept: Mapping[str, str],
        artifacts: Mapping[str, BlobArtifact],
        records: Mapping[str, FileRecord],
        prefix: str,
    ) -> dict[str, str]:
        """Rewrite the shards holding a changed path; share the others' keys."""
        shared = {shard_segment(s): kept.get(shard_segment(s)) for s in range(SHARDS)}
        changed = changed_shards(plan.files, last) | {
            s for s in range(SHARDS) if not shared[shard_segment(s)]
        }
        members = self._shard_members(plan, changed, shared, artifacts, records)

        def put(shard: int) -> str:
            key = layout.files_shard_key(prefix, shard)
            self._blobs.put(key, encode_graph_files(members[shard]), if_absent=True)
            return key

        with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
            written = dict(zip(changed, pool.map(put, changed), strict=True))
        return {
            shard_segment(s): written[s] if s in changed else str(shared[shard_segment(s)])
            for s in range(SHARDS)
        }

    def _shard_members(
        self,
        plan: Plan,
        changed: set[int],
        shared: Mapping[str, str | None],
        artifacts: Mapping[str, BlobArtifact],
        records: Mapping[str, FileRecord],
    ) -> dict[int, list[GraphFile]]:
        """The live files of each changed shard: fresh from their artifacts, else carried
        over from the last generation's shard (else read from their artifacts)."""
        wanted = [f for f in plan.files if shard_of(f.path) in changed and _live(records[f.path])]
        old_keys = [k for s in changed if (k := shared[shard_segment(s)])]
        with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
            old = {
                g.path: g
                for data in pool.map(self._blobs.get, old_keys)
                for g in decode_graph_files(data)
            }
        missing = [f for f in wanted if f.path not in artifacts and f.path not in old]
        loaded = {**artifacts, **self._load(missing, plan.batches)}
        members: dict[int, list[GraphFile]] = {s: [] for s in changed}
        for f in sorted(wanted, key=lambda f: f.path):
            a = loaded.get(f.path)
            fresh = GraphFile(f.path, f.language, a.symbols, a.references) if a else None
            members[shard_of(f.path)].append(fresh or old[f.path])
        return members

    def _base(
        self,
        plan: Plan,
        artifacts: dict[str, BlobArtifact],
        records: Mapping[str, FileRecord],
        prefix: str,
    ) -> dict[str, str]:
        """A new base: every live file's artifact (most are not loaded yet)."""
        live = [f for f in plan.files if _live(records[f.path])]
        artifacts.update(self._load([f for f in live if f.path not in artifacts], plan.batches))
        return {"lexical": self._lexical(live, artifacts, prefix, "lexical")}

    def _merged_base(
        self,
        plan: Plan,
        layers: Layering,
        old_base: str,
        artifacts: Mapping[str, BlobArtifact],
        prefix: str,
    ) -> dict[str, str]:
        """A compaction: the old base merged with this generation's delta, minus its
        tombstones (equal to a build from every artifact, without reading them)."""
        in_delta = set(layers.delta)
        delta = LexicalSegment.build(
            _segment_file(f, artifacts[f.path]) for f in plan.files if f.path in in_delta
        )
        base = LexicalSegment.from_bytes(self._blobs.get(old_base))
        merged = compact(base, delta, frozenset(layers.tombstones))
        key = layout.segment_key(prefix, "lexical")
        self._blobs.put(key, merged.to_bytes(), if_absent=True)
        return {"lexical": key}

    def _delta(
        self,
        plan: Plan,
        layers: Layering,
        previous: Manifest,
        artifacts: Mapping[str, BlobArtifact],
        prefix: str,
    ) -> dict[str, str]:
        """The previous base, shared, and one delta of every live file that differs from it."""
        segments = {n: previous.segments[n] for n in ("lexical", BASE_TABLE)}
        in_delta = set(layers.delta)
        delta = [f for f in plan.files if f.path in in_delta]
        if delta:
            segments["lexical_delta"] = self._lexical(delta, artifacts, prefix, "lexical-delta")
        return segments

    def _load(
        self, files: Sequence[PlannedFile], batches: Sequence[Sequence[PlannedFile]]
    ) -> dict[str, BlobArtifact]:
        """The files' artifacts: from the bundles of this plan's parse `batches` where those
        hold them (one GET per batch), the rest one GET each."""
        if not files:
            return {}
        encoded = read_bundles(self._blobs, batches, {(f.oid, f.language) for f in files})

        def load(f: PlannedFile) -> BlobArtifact:
            data = encoded.get((f.oid, f.language))
            if data is None:
                data = self._blobs.get(layout.blob_artifact_key(PARSER_VERSION, f.oid, f.language))
            return decode_artifact(data)

        with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
            return dict(zip((f.path for f in files), pool.map(load, files), strict=True))

    def _lexical(
        self,
        files: Sequence[PlannedFile],
        artifacts: Mapping[str, BlobArtifact],
        prefix: str,
        name: str,
    ) -> str:
        segment = LexicalSegment.build(_segment_file(f, artifacts[f.path]) for f in files)
        key = layout.segment_key(prefix, name)
        self._blobs.put(key, segment.to_bytes(), if_absent=True)
        return key


def read_bundles(
    blobs: BlobStore, batches: Sequence[Sequence[PlannedFile]], wanted: set[Member]
) -> dict[Member, bytes]:
    """The encoded artifacts of `wanted` held by the bundles of the batches holding any of
    them (a missing or corrupt bundle is skipped: its files are read one by one)."""
    keys = [
        layout.blob_bundle_key(PARSER_VERSION, members)
        for batch in batches
        if not wanted.isdisjoint(members := [(f.oid, f.language) for f in batch])
    ]

    def read(key: str) -> dict[Member, bytes]:
        try:
            return decode_bundle(blobs.get(key))
        except (NotFound, ValueError):
            return {}

    with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
        return {m: data for got in pool.map(read, keys) for m, data in got.items() if m in wanted}


def _segment_file(f: PlannedFile, a: BlobArtifact) -> SegmentFile:
    return SegmentFile(f.path, f.oid, f.language, a.text, a.chunks)


def _live(record: FileRecord) -> bool:
    return record.skipped is None


def compute_stats(plan: Plan, records: Sequence[FileRecord], *, parsed: int, reused: int) -> Stats:
    languages: Counter[str] = Counter()
    extensions: Counter[str] = Counter()
    skipped: Counter[str] = Counter(plan.skipped)
    total_size = chunks = 0
    for r in records:
        if r.skipped:
            skipped[r.skipped] += 1
            continue
        languages[r.language] += 1
        extensions[extension_of(r.path) or "(none)"] += 1
        total_size += r.size
        chunks += r.chunks
    return Stats(
        total_files=sum(languages.values()),
        total_size=total_size,
        languages=dict(languages),
        extensions=dict(extensions),
        skipped=dict(skipped),
        chunks=chunks,
        blobs_parsed=parsed,
        blobs_reused=reused,
    )
