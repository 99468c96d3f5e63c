"""Incremental generations: a delta over the last base, tombstones, compaction, and answers
identical to a full rebuild of the same commit."""

from __future__ import annotations

import pytest

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_manifest
from chalicelib.domain.increments import (
    SHARDS,
    Increment,
    changed_shards,
    decide_layering,
    file_records,
    needs_compaction,
    plan_increment,
    shard_of,
    shard_segment,
)
from chalicelib.domain.models import FileRecord, Generation, Manifest
from chalicelib.domain.planning import PlannedFile
from chalicelib.services.chat import Question
from chalicelib.services.search import SearchQuery
from tests.harness import REMOTE, REPO_ID, Harness

MODULES = {
    f"pkg/mod{i:02d}.py": (
        f"def handler_{i}(request):\n"
        f'    """Handle request kind {i} for the gateway."""\n'
        f"    return route_{i % 5}(request, retries={i})\n\n\n"
        f"class Worker{i}:\n"
        f"    def run(self, job):\n"
        f"        return job.execute(level={i})\n"
    )
    for i in range(40)
}
QUERIES = [
    "handler request",
    "route gateway",
    "Worker run job",
    "execute level",
    "retries",
    "handle kind 7",
    "brand new feature flag",
]


def record(path: str, oid: str, chunks: int = 2, skipped: str | None = None) -> FileRecord:
    return FileRecord(path, oid, "python", 10, skipped, chunks)


def planned(path: str, oid: str) -> PlannedFile:
    return PlannedFile(path, oid, "python", 10)


class TestPlanIncrement:
    def test_without_a_previous_generation_everything_is_fetched(self) -> None:
        inc = plan_increment([planned("a.py", "1")], None, None)
        assert inc.full and [f.path for f in inc.fetch] == ["a.py"]

    def test_changed_added_and_deleted_files(self) -> None:
        base = {
            "a.py": record("a.py", "1"),
            "b.py": record("b.py", "2"),
            "c.py": record("c.py", "3"),
            "bin": record("bin", "4", skipped="binary"),
        }
        files = [
            planned("a.py", "1"),
            planned("b.py", "22"),
            planned("d.py", "5"),
            planned("bin", "44"),
        ]
        inc = plan_increment(files, base, base)
        assert not inc.full
        assert [f.path for f in inc.fetch] == ["b.py", "bin", "d.py"]
        assert inc.delta == ("b.py", "bin", "d.py")
        assert inc.tombstones == ("b.py", "c.py")  # a skipped base file needs no tombstone

    def test_a_cumulative_delta_refetches_what_differs_from_the_base(self) -> None:
        base = {"a.py": record("a.py", "1"), "b.py": record("b.py", "2")}
        last = {"a.py": record("a.py", "11"), "b.py": record("b.py", "2")}
        inc = plan_increment([planned("a.py", "11"), planned("b.py", "2")], last, base)
        assert [f.path for f in inc.fetch] == ["a.py"] and inc.tombstones == ("a.py",)

    def test_records_come_from_artifacts_or_carry_over(self) -> None:
        with pytest.raises(ValueError, match="no artifact"):
            file_records([planned("a.py", "9")], {"a.py": record("a.py", "1")}, {})

    def test_compaction_threshold_counts_live_chunks(self) -> None:
        base = {f"f{i}": record(f"f{i}", str(i), chunks=10) for i in range(10)}
        records = {**base, "new": record("new", "x", chunks=10)}
        assert not needs_compaction(["new"], records, base, threshold=0.10)
        records["big"] = record("big", "y", chunks=11)
        assert needs_compaction(["new", "big"], records, base, threshold=0.10)


class TestDecideLayering:
    def test_a_full_increment_writes_a_new_base(self) -> None:
        inc = plan_increment([planned("a.py", "1")], None, None)
        assert decide_layering(inc, {"a.py": record("a.py", "1")}, None).new_base

    def test_a_small_change_is_a_delta_of_its_live_paths(self) -> None:
        base = {f"f{i}": record(f"f{i}", str(i), chunks=10) for i in range(20)}
        records = {**base, "f1": record("f1", "x"), "bin": record("bin", "b", skipped="binary")}
        inc = Increment(False, (), ("bin", "f1"), ("f1",))
        layers = decide_layering(inc, records, base, threshold=0.10)
        assert not layers.new_base and layers.delta == ("f1",) and layers.tombstones == ("f1",)

    def test_a_delta_past_the_threshold_compacts(self) -> None:
        base = {f"f{i}": record(f"f{i}", str(i), chunks=10) for i in range(5)}
        records = {**base, "f1": record("f1", "x", chunks=10)}
        inc = Increment(False, (), ("f1",), ("f1",))
        assert decide_layering(inc, records, base, threshold=0.10).new_base


class TestShards:
    def test_a_path_always_lands_in_the_same_shard(self) -> None:
        assert shard_of("pkg/mod07.py") == shard_of("pkg/mod07.py")
        assert {shard_of(p) for p in MODULES} <= set(range(SHARDS))

    def test_only_shards_of_added_changed_or_deleted_paths_change(self) -> None:
        last = {p: record(p, "1") for p in ("a.py", "b.py", "c.py")}
        files = [planned("a.py", "1"), planned("b.py", "2"), planned("d.py", "1")]
        assert changed_shards(files, last) == {shard_of(p) for p in ("b.py", "c.py", "d.py")}
        assert changed_shards(files, None) == set(range(SHARDS))


def manifest_of(h: Harness) -> Manifest:
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.generation is not None
    return decode_manifest(h.blobs.get(layout.manifest_key(repo.generation.key)))


def manifest_generation(h: Harness) -> Generation:
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.generation is not None
    return repo.generation


def indexed(files: dict[str, str]) -> Harness:
    h = Harness()
    h.git.commit(REMOTE, files)
    h.request()
    h.run()
    return h


def assert_same_answers(incremental: Harness, files: dict[str, str]) -> None:
    fresh = indexed(files)
    for query in QUERIES:
        q = SearchQuery(query, (REPO_ID,), k=20)
        assert incremental.searcher().search(q).hits == fresh.searcher().search(q).hits
    graphs = [h.loader.load(manifest_generation(h)).graph for h in (incremental, fresh)]
    assert graphs[0] is not None and graphs[1] is not None
    assert (graphs[0].nodes, graphs[0].edges, graphs[0].external) == (
        graphs[1].nodes,
        graphs[1].edges,
        graphs[1].external,
    )
    a, b = manifest_of(incremental), manifest_of(fresh)
    assert a.stats.to_public() | {"blobsParsed": 0, "blobsReused": 0} == (
        b.stats.to_public() | {"blobsParsed": 0, "blobsReused": 0}
    )


def push(h: Harness, files: dict[str, str]) -> None:
    h.git.commit(REMOTE, files)
    h.request()
    h.run()


def test_a_one_file_push_writes_a_delta_and_answers_like_a_full_rebuild() -> None:
    h = indexed(MODULES)
    first = manifest_of(h)
    changed = {
        **MODULES,
        "pkg/mod07.py": MODULES["pkg/mod07.py"] + "\nBRAND_NEW = 'feature flag'\n",
    }
    push(h, changed)
    m = manifest_of(h)
    assert m.segments["lexical"] == first.segments["lexical"]  # the base is shared
    assert "lexical_delta" in m.segments and m.tombstones == ("pkg/mod07.py",)
    assert m.stats.blobs_parsed == 1
    shards = {n for n in m.segments if n.startswith("symbols-")}
    assert len(shards) == SHARDS
    rewritten = {n for n in shards if m.segments[n] != first.segments[n]}
    assert rewritten == {shard_segment(shard_of("pkg/mod07.py"))}  # the others are shared
    assert "graph" not in m.segments  # readers build it from the shards
    assert_same_answers(h, changed)


def test_deletes_and_adds_across_two_pushes_keep_one_cumulative_delta() -> None:
    h = indexed(MODULES)
    step1 = {k: v for k, v in MODULES.items() if k != "pkg/mod03.py"}
    push(h, step1)
    step2 = {**step1, "pkg/extra.py": "def brand_new_feature():\n    return 'flag'\n"}
    push(h, step2)
    m = manifest_of(h)
    assert m.tombstones == ("pkg/mod03.py",)
    assert_same_answers(h, step2)
    hits = h.searcher().search(SearchQuery("handle kind 3", (REPO_ID,), k=40))
    assert "pkg/mod03.py" not in {hit.passage.path for hit in hits.hits}


def test_a_large_change_compacts_into_a_new_base() -> None:
    h = indexed(MODULES)
    first = manifest_of(h)
    changed = {k: v + "\n# touched\n" for k, v in MODULES.items()}
    push(h, changed)
    m = manifest_of(h)
    assert m.segments["lexical"] != first.segments["lexical"]
    assert "lexical_delta" not in m.segments and m.tombstones == ()
    assert_same_answers(h, changed)


def test_graph_and_sources_follow_the_new_version() -> None:
    h = indexed(MODULES)
    changed = {**MODULES, "pkg/mod01.py": "def renamed_handler(request):\n    return None\n"}
    push(h, changed)
    answer = h.chat().ask(Question(REPO_ID, "renamed handler request"))
    assert ("pkg/mod01.py", 1, 2) in {(s.path, s.start_line, s.end_line) for s in answer.sources}
    symbols = h.searcher().search(SearchQuery("renamed_handler", (REPO_ID,), mode="symbol")).hits
    assert symbols[0].passage.path == "pkg/mod01.py"


def test_a_compaction_merges_the_old_base_into_the_bytes_of_a_full_build() -> None:
    h = indexed(MODULES)
    first = manifest_of(h)
    changed = {k: v + ("\n# touched\n" if k < "pkg/mod06.py" else "") for k, v in MODULES.items()}
    push(h, changed)
    m, fresh = manifest_of(h), manifest_of(fresh_h := indexed(changed))
    assert m.segments["lexical"] != first.segments["lexical"] and m.tombstones == ()
    assert h.blobs.get(m.segments["lexical"]) == fresh_h.blobs.get(fresh.segments["lexical"])
    assert m.stats.blobs_parsed == 6
