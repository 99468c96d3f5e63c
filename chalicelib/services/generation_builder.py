"""Writes a generation's segments: a full base, or a delta over the last base.

Reads only the artifacts of files that differ from the last generation or its base; every
other file's symbols, references and counts come from the last generation's files index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_artifact, decode_files, encode_files, encode_graph
from chalicelib.domain.graph import CodeGraph, GraphFile
from chalicelib.domain.increments import file_records, needs_compaction, plan_increment
from chalicelib.domain.languages import extension_of
from chalicelib.domain.lexical import LexicalSegment, SegmentFile
from chalicelib.domain.models import BlobArtifact, FileRecord, Manifest, Stats
from chalicelib.domain.planning import Plan, PlannedFile
from chalicelib.parsers import PARSER_VERSION
from chalicelib.ports import BlobStore

_FETCH_THREADS = 16


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
        last = self._index(previous, "files")
        base = self._index(previous, "lexical_files")
        inc = plan_increment(plan.files, last, base)
        artifacts = self._load(inc.fetch)
        records = file_records(plan.files, last, artifacts)
        by_path = {r.path: r for r in records}
        files_key = layout.segment_key(prefix, "files")
        self._blobs.put(files_key, encode_files(records), if_absent=True)
        segments = {"files": files_key, "graph": self._graph(records, prefix)}
        if (
            previous is None
            or base is None
            or inc.full
            or needs_compaction(inc.delta, by_path, base, self._compact_at)
        ):
            rest = [f for f in plan.files if f.path not in artifacts and _live(by_path[f.path])]
            artifacts.update(self._load(rest))
            live = [f for f in plan.files if _live(by_path[f.path])]
            segments["lexical"] = self._lexical(live, artifacts, prefix, "lexical")
            segments["lexical_files"] = files_key
            return Built(segments, (), records)
        delta = [f for f in plan.files if f.path in set(inc.delta) and _live(by_path[f.path])]
        segments["lexical"] = previous.segments["lexical"]
        segments["lexical_files"] = previous.segments["lexical_files"]
        if delta:
            segments["lexical_delta"] = self._lexical(delta, artifacts, prefix, "lexical-delta")
        return Built(segments, inc.tombstones, records)

    def _index(self, manifest: Manifest | None, name: str) -> dict[str, FileRecord] | None:
        if manifest is None or manifest.parser_version != PARSER_VERSION:
            return None
        key = manifest.segments.get(name)
        return decode_files(self._blobs.get(key)) if key else None

    def _load(self, files: Sequence[PlannedFile]) -> dict[str, BlobArtifact]:
        def load(f: PlannedFile) -> BlobArtifact:
            key = layout.blob_artifact_key(PARSER_VERSION, f.oid, f.language)
            return decode_artifact(self._blobs.get(key))

        with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
            return dict(zip((f.path for f in files), pool.map(load, files), strict=True))

    def _lexical(
        self,
        files: Sequence[PlannedFile],
        artifacts: Mapping[str, BlobArtifact],
        prefix: str,
        name: str,
    ) -> str:
        segment = LexicalSegment.build(
            SegmentFile(f.path, f.oid, f.language, artifacts[f.path].text, artifacts[f.path].chunks)
            for f in files
        )
        key = layout.segment_key(prefix, name)
        self._blobs.put(key, segment.to_bytes(), if_absent=True)
        return key

    def _graph(self, records: Sequence[FileRecord], prefix: str) -> str:
        graph = CodeGraph.build(
            GraphFile(r.path, r.language, r.symbols, r.references) for r in records if _live(r)
        )
        key = layout.segment_key(prefix, "graph")
        self._blobs.put(key, encode_graph(graph), if_absent=True)
        return key


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
