"""Searchable first (issue 16, ADR 11 revised): a large job is published lexically as soon as
parsing ends, its vectors follow in a second fenced publish of the same generation; status
says `embedding` meanwhile and hybrid search reports `semantic: partial`."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.api import views
from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_manifest
from chalicelib.domain.hybrid import Weights, fuse, join_signals, semantic_coverage
from chalicelib.domain.messages import EmbedBatch, FinalizeGeneration, Message
from chalicelib.domain.models import Job, JobState, Manifest, Status, VectorState
from chalicelib.errors import Conflict
from chalicelib.services.context import IndexConfig
from chalicelib.services.dead_letters import EMBEDDING_FAILED
from chalicelib.services.generation_publisher import embedded_key
from chalicelib.services.generations import PointerCache
from chalicelib.services.job_endings import ENDED
from chalicelib.services.pipeline import IndexPipeline
from chalicelib.services.search import SearchQuery, SearchResult
from tests.fakes.models import FakeEmbedder
from tests.freshness_harness import FreshnessHarness
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES
from tests.sqs_simulator import SimulatedSqs
from tests.unit.test_every_job_ends import Faults, faulty

MODULES = {f"pkg/module_{i}.py": f"def function_{i}(x):\n    return x + {i}\n" for i in range(6)}
FILES = {**SAMPLE_FILES, **MODULES}
LEXICAL_FIRST = IndexConfig(batch_files=2, lexical_first_files=1)
SWEEP = IndexConfig(batch_files=3, lexical_first_files=1)  # fewer port calls a run


@pytest.fixture
def h() -> FreshnessHarness:
    harness = FreshnessHarness(embedder=FakeEmbedder(), config=LEXICAL_FIRST)
    harness.git.commit(REMOTE, FILES)
    return harness


def parse_only(h: FreshnessHarness) -> list[Message]:
    """Run every message but the embed batches, which are returned (held back)."""
    held: list[Message] = []

    def keep(msg: Message) -> bool:
        if isinstance(msg, EmbedBatch):
            held.append(msg)
            return False
        return True

    h.run(keep=keep)
    return held


def deliver(h: FreshnessHarness, messages: list[Message]) -> None:
    h.queue.pending.extend(messages)
    h.run()


def only_job(h: FreshnessHarness) -> Job:
    (job,) = h.jobs.jobs.values()
    return job


def served(h: FreshnessHarness) -> Manifest:
    generation = h.repo().generation
    assert generation is not None
    return decode_manifest(h.blobs.get(layout.manifest_key(generation.key)))


def search(h: FreshnessHarness, mode: str = "hybrid", *ids: str) -> SearchResult:
    query = SearchQuery("factory assemble widget", repository_ids=ids or (REPO_ID,), mode=mode)
    return h.searcher().search(query)


def test_the_lexical_generation_is_served_while_its_vectors_are_embedded(
    h: FreshnessHarness,
) -> None:
    h.request()
    held = parse_only(h)
    assert held  # the embed batches have not run
    repo, job = h.repo(), only_job(h)
    assert (repo.status, repo.vectors, job.state) == (
        Status.READY,
        VectorState.EMBEDDING,
        JobState.EMBEDDING,
    )
    assert h.lease().owner == job.job_id  # held until the vectors are published
    m = served(h)
    assert m.embedding_model is None and "vectors" not in m.segments
    hybrid, lexical = search(h), search(h, "lexical")
    assert hybrid.hits and hybrid.semantic == "partial"
    signals = hybrid.hits[0].passage.extra["signals"]
    assert isinstance(signals, dict) and "semantic" not in signals
    assert lexical.hits and lexical.semantic == "none"
    with pytest.raises(Conflict, match="being embedded"):
        search(h, "semantic")


def test_the_vector_publish_completes_the_same_generation(h: FreshnessHarness) -> None:
    h.request()
    held = parse_only(h)
    lexical = h.repo().generation
    assert lexical is not None
    deliver(h, held)
    repo, job = h.repo(), only_job(h)
    assert repo.generation is not None
    assert (repo.generation.fence, repo.generation.sha) == (lexical.fence, lexical.sha)
    assert repo.generation.key == embedded_key(lexical.key)
    assert (repo.status, repo.vectors, job.state) == (
        Status.READY,
        VectorState.COMPLETE,
        JobState.PUBLISHED,
    )
    assert h.lease().owner == "" and h.blobs.keys("jobs/") == []
    m = served(h)
    assert m.embedding_model == "fake-bow-64" and "vectors" in m.segments
    assert repo.stats.chunks_embedded == job.chunks_embedded > 0
    assert search(h).semantic == "complete"
    assert search(h, "semantic").hits
    published = [e for e in h.events.list(REPO_ID, 50).events if e.type == "GenerationPublished"]
    assert len(published) == 2


def test_status_says_embedding_with_progress(h: FreshnessHarness) -> None:
    h.request()
    held = parse_only(h)
    seen = []
    for msg in held:
        body = views.repository_status(h.repo(), h.clock.now())
        seen.append((body["status"], body["vectors"], body["progress"]["filesEmbedded"]))
        deliver(h, [msg])
    body = views.repository_status(h.repo(), h.clock.now())
    total = body["progress"]["numFiles"]
    assert body["progress"] == {"filesProcessed": total, "numFiles": total, "filesEmbedded": total}
    assert (body["status"], body["vectors"]) == ("ready", "complete")
    assert {(s, v) for s, v, _ in seen} == {("ready", "embedding")}
    embedded = [e for _, _, e in seen]
    assert embedded == sorted(embedded) and embedded[-1] < total


def test_a_newer_job_supersedes_the_embedding_one_and_its_vectors_never_publish(
    h: FreshnessHarness,
) -> None:
    h.request()
    held = parse_only(h)
    old = only_job(h)
    newer = h.git.commit(REMOTE, {**FILES, "pkg/late.py": "def late():\n    return 1\n"})
    h.request()
    later = parse_only(h)  # the newer job publishes lexically; its embed batches wait
    assert h.jobs.jobs[old.job_id].state is JobState.SUPERSEDED
    deliver(h, [*held, FinalizeGeneration(old.job_id)])  # the old job's late messages
    deliver(h, later)
    old_prefix = layout.generation_prefix(REPO_ID, old.fence, old.sha)
    assert not h.blobs.exists(layout.manifest_key(embedded_key(old_prefix)))
    repo = h.repo()
    assert repo.generation is not None and repo.generation.fence > old.fence
    assert (repo.indexed_sha, repo.status, repo.vectors) == (
        newer,
        Status.READY,
        VectorState.COMPLETE,
    )
    assert all(j.state in ENDED for j in h.jobs.jobs.values())


def test_a_newer_job_that_deletes_and_changes_files_of_an_unembedded_one_gets_every_vector(
    h: FreshnessHarness,
) -> None:
    # A push while the last generation was still embedding: its files were never embedded,
    # and the newer tree deletes one and changes another (the eval bench hit this: the
    # vector publish found rows of the deleted files without vectors and failed the index).
    h.request()
    parse_only(h)  # the first job publishes lexically; its embed batches never run
    changed = {**FILES, "pkg/module_1.py": "def function_1(x):\n    return x * 2\n"}
    del changed["pkg/module_0.py"]
    newer = h.git.commit(REMOTE, changed)
    h.request()
    h.run()
    repo = h.repo()
    assert (repo.indexed_sha, repo.status, repo.vectors) == (
        newer,
        Status.READY,
        VectorState.COMPLETE,
    )
    assert search(h, "semantic").hits


def test_a_request_for_the_same_sha_does_not_supersede_the_embedding_job(
    h: FreshnessHarness,
) -> None:
    h.request()
    held = parse_only(h)
    h.request()  # the same head: already indexed (lexically), nothing to do
    h.run(keep=lambda m: not isinstance(m, EmbedBatch))
    assert only_job(h).state is JobState.EMBEDDING
    deliver(h, held)
    assert h.repo().vectors is VectorState.COMPLETE


def test_a_dead_embed_batch_ends_the_job_and_keeps_the_lexical_generation(
    h: FreshnessHarness,
) -> None:
    h.request()
    held = parse_only(h)
    lexical = h.repo().generation
    h.pipeline().dead_letter(held[0], "embed")
    repo, job = h.repo(), only_job(h)
    assert (repo.status, repo.error, repo.vectors, job.state) == (
        Status.ERROR,
        EMBEDDING_FAILED,
        VectorState.FAILED,
        JobState.FAILED,
    )
    assert repo.generation == lexical and h.lease().owner == ""
    assert search(h).hits and search(h).semantic == "none"
    assert views.repository_status(repo, h.clock.now())["vectors"] == "failed"
    deliver(h, held[1:])  # the rest of the dead job's messages change nothing
    assert h.repo().generation == lexical
    h.request()  # the same head again: built again, to get its vectors
    h.run()
    assert (h.repo().status, h.repo().vectors) == (Status.READY, VectorState.COMPLETE)


def test_a_small_job_publishes_once_with_its_vectors() -> None:
    h = FreshnessHarness(embedder=FakeEmbedder(), config=IndexConfig(batch_files=2))
    h.git.commit(REMOTE, FILES)  # fewer files than lexical_first_files
    h.request()
    states: list[JobState] = []

    def watch(msg: Message) -> bool:
        states.extend(j.state for j in h.jobs.jobs.values())
        return True

    h.run(keep=watch)
    assert JobState.EMBEDDING not in states
    repo = h.repo()
    assert repo.generation is not None and not repo.generation.key.endswith("/embedded")
    assert repo.vectors is VectorState.COMPLETE


def test_a_push_after_a_lexical_first_index_builds_on_its_vectors(h: FreshnessHarness) -> None:
    h.request()
    h.run(duplicate=True)
    assert h.repo().vectors is VectorState.COMPLETE
    embedder = h.embedder
    assert isinstance(embedder, FakeEmbedder)
    embedder.calls.clear()
    h.git.commit(REMOTE, {**FILES, "pkg/module_1.py": "def function_1(x):\n    return -x\n"})
    h.request()
    h.run()
    assert len(embedder.calls) == 1  # the one chunk that changed
    assert (h.repo().vectors, search(h).semantic) == (VectorState.COMPLETE, "complete")


def test_a_scope_with_one_repository_still_embedding_is_partial(h: FreshnessHarness) -> None:
    other = "github:acme:gadgets"
    h.git.commit("https://github.com/acme/gadgets.git", MODULES)
    h.request()
    h.run()
    h.request(repository_id=other)
    parse_only(h)
    result = search(h, "hybrid", REPO_ID, other)
    assert result.semantic == "partial" and {f.repository_id for f in result.hits} >= {REPO_ID}
    assert set(result.answered) == {REPO_ID, other}
    semantic = search(h, "semantic", REPO_ID, other)  # only the one with vectors answers
    assert {f.repository_id for f in semantic.hits} == {REPO_ID}
    assert semantic.semantic == "partial"


def test_fuse_uses_a_signal_only_where_it_exists() -> None:
    raw = [
        {"lexical": np.array([1.0, 0.0]), "semantic": np.array([0.9, 0.1])},
        {"lexical": np.array([0.5, 0.2, 0.1])},
    ]
    joined = join_signals(raw)
    assert np.isnan(joined["semantic"][2:]).all()
    fused = fuse(joined, [False] * 5, Weights(demote=False))
    assert np.allclose(fused.parts["semantic"][2:], 0.0)
    assert fused.parts["semantic"][0] > 0 > fused.parts["semantic"][1]
    assert semantic_coverage(["vectors", "vectors"]) == "complete"
    assert semantic_coverage(["vectors", "none"]) == "partial"
    assert semantic_coverage(["pending"]) == "partial"
    assert semantic_coverage(["none"]) == semantic_coverage([]) == "none"


def sweep(lasting: int) -> list[tuple[str | None, FreshnessHarness]]:
    """A fault at every port call of a lexical-first first index, as test_every_job_ends."""
    runs: list[tuple[str | None, FreshnessHarness]] = []
    for at in range(1, 10_000):
        h = FreshnessHarness(embedder=FakeEmbedder(), config=SWEEP)
        h.git.commit(REMOTE, MODULES)
        h.request()
        faults = Faults(at, lasting)

        def pipeline(h: FreshnessHarness = h, faults: Faults = faults) -> IndexPipeline:
            return IndexPipeline(ports=faulty(h.ports, faults), config=h.config)

        SimulatedSqs(h.queue.pending, pipeline).run()
        if faults.fired == 0:
            return runs
        runs.append((faults.target, h))
    raise AssertionError("the runs never got past the fault")


@pytest.mark.parametrize("lasting", [1, 8])
def test_every_lexical_first_job_ends_whatever_the_fault(lasting: int) -> None:
    runs = sweep(lasting)
    assert len(runs) > 30
    for target, h in runs:
        repo = h.repo()
        assert all(j.state in ENDED for j in h.jobs.jobs.values()), target
        assert repo.status in (Status.READY, Status.ERROR), target
        if repo.status is Status.READY:
            assert repo.vectors is VectorState.COMPLETE, target
        held = h.locks.get(REPO_ID)
        assert held is None or not held.owner or h.jobs.jobs[held.owner].state in ENDED
        h.request()
        h.run()
        assert (h.repo().status, h.repo().vectors) == (Status.READY, VectorState.COMPLETE)
    if lasting == 1:
        assert all(h.repo().status is Status.READY for _, h in runs)


def test_a_warm_pointer_cache_never_hides_the_vector_publish(h: FreshnessHarness) -> None:
    h.pointers = PointerCache(h.repos, h.clock, ttl_seconds=60)  # a warm function's cache
    h.request()
    held = parse_only(h)
    assert search(h).semantic == "partial"
    deliver(h, held)  # within the TTL
    assert search(h).semantic == "complete"
