"""Embeddings through the pipeline on fakes: embed batches after parse batches, vectors cached
by blob and chunk hash, vector segments that follow the lexical base and delta."""

from __future__ import annotations

import numpy as np
import pytest

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_manifest
from chalicelib.domain.messages import EmbedBatch, Message
from chalicelib.domain.models import Manifest, Status
from chalicelib.domain.vectors import decode_vectors
from chalicelib.errors import TransientError
from chalicelib.services.retrieval import SignalCache
from tests.fakes.models import FakeEmbedder
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES, Harness

MODULES = {f"pkg/module_{i}.py": f"def function_{i}(x):\n    return x + {i}\n" for i in range(6)}
FILES = {**SAMPLE_FILES, **MODULES}


@pytest.fixture
def h() -> Harness:
    harness = Harness(embedder=FakeEmbedder())
    harness.git.commit(REMOTE, FILES)
    return harness


def manifest(h: Harness) -> Manifest:
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.generation is not None
    return decode_manifest(h.blobs.get(layout.manifest_key(repo.generation.key)))


def embedder(h: Harness) -> FakeEmbedder:
    assert isinstance(h.embedder, FakeEmbedder)
    return h.embedder


def live_chunks(h: Harness) -> int:
    repo = h.repos.get(REPO_ID)
    assert repo is not None
    return repo.stats.chunks


def test_first_index_embeds_every_chunk_once_and_publishes_vectors(h: Harness) -> None:
    h.request()
    delivered = h.run()
    assert any(isinstance(m, EmbedBatch) for m in delivered)
    m = manifest(h)
    assert m.embedding_model == "fake-bow-64"
    block = decode_vectors(h.blobs.get(m.segments["vectors"]))
    assert block.rows == live_chunks(h) == len(embedder(h).calls)
    assert np.allclose(np.linalg.norm(block.matrix.astype(np.float32), axis=1), 1.0, atol=1e-2)
    job = h.jobs.jobs[next(iter(h.jobs.jobs))]
    assert job.chunks_embedded == len(embedder(h).calls) and job.outstanding == 0
    stats = h.repo(REPO_ID).stats
    assert (stats.chunks_embedded, stats.embedding_model) == (job.chunks_embedded, "fake-bow-64")


def test_reindexing_an_unchanged_tree_embeds_nothing(h: Harness) -> None:
    h.request()
    h.run()
    before = len(embedder(h).calls)
    h.request(force=True)
    h.run()
    assert len(embedder(h).calls) == before
    assert h.repo(REPO_ID).stats.chunks_embedded == 0
    assert h.repo(REPO_ID).status is Status.READY


def test_a_fork_with_the_same_blobs_embeds_nothing(h: Harness) -> None:
    h.request()
    h.run()
    before = len(embedder(h).calls)
    h.git.commit("https://github.com/other/widgets.git", FILES)
    h.request(repository_id="github:other:widgets")
    h.run()
    assert len(embedder(h).calls) == before


def test_an_edit_embeds_only_the_chunks_it_changed(h: Harness) -> None:
    h.request()
    h.run()
    source = FILES["widgets/factory.py"] + "\n\ndef repair(widget):\n    return widget.fix()\n"
    h.git.commit(REMOTE, {**FILES, "widgets/factory.py": source}, message="Add repair")
    embedder(h).calls.clear()
    h.request()
    h.run()
    calls = embedder(h).calls
    assert calls and all("repair" in text for text in calls)
    m = manifest(h)
    rows = decode_vectors(h.blobs.get(m.segments["vectors"])).rows
    delta = m.segments.get("vectors_delta")
    rows += decode_vectors(h.blobs.get(delta)).rows if delta else 0
    assert rows >= live_chunks(h)


def test_duplicate_delivery_counts_and_embeds_once(h: Harness) -> None:
    h.request()
    h.run(duplicate=True)
    job = h.jobs.jobs[next(iter(h.jobs.jobs))]
    assert job.chunks_embedded == len(embedder(h).calls) == live_chunks(h)
    assert h.repo(REPO_ID).status is Status.READY


def test_status_counts_files_parsed_then_embedded_once_each(h: Harness) -> None:
    h.request()
    seen: list[tuple[int, int | None]] = []

    def watch(msg: Message) -> bool:
        repo = h.repos.get(REPO_ID)
        assert repo is not None
        seen.append((repo.files_processed, repo.files_embedded))
        return True

    h.run(duplicate=True, keep=watch)
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.READY
    assert (repo.files_processed, repo.files_embedded) == (repo.num_files, repo.num_files)
    parsed = [p for p, _ in seen]
    embedded = [0 if e is None else e for _, e in seen]
    assert parsed == sorted(parsed) and embedded == sorted(embedded)
    assert any(
        p == repo.num_files and e < repo.num_files for p, e in zip(parsed, embedded, strict=True)
    )


def test_a_failed_embed_call_is_retried_and_loses_nothing(h: Harness) -> None:
    h.request()
    embedder(h).fail_next = 1
    pipeline = h.pipeline()
    failures = 0
    while h.queue.pending:
        msg: Message = h.queue.pending.popleft()
        try:
            pipeline.handle(msg, msg.queue)
        except TransientError:
            failures += 1
            h.queue.pending.append(msg)  # SQS redelivers after the visibility timeout
    assert failures == 1
    assert h.repo(REPO_ID).status is Status.READY
    assert len(embedder(h).calls) == live_chunks(h)


def test_vector_segments_follow_base_and_delta_exactly(h: Harness) -> None:
    """Semantic rows over base + delta equal those of a fresh full index of the same tree."""
    h.request()
    h.run()
    changed = {**FILES, "pkg/module_2.py": "def renamed(y):\n    return y * 2\n"}
    del changed["pkg/module_4.py"]
    h.git.commit(REMOTE, changed, message="Rename and delete")
    h.request()
    h.run()
    incremental = _vectors_by_span(h, REPO_ID)
    h.git.commit("https://github.com/acme/fresh.git", changed)
    h.request(repository_id="github:acme:fresh")
    h.run()
    assert "vectors_delta" in manifest(h).segments
    assert incremental == _vectors_by_span(h, "github:acme:fresh")


def _vectors_by_span(h: Harness, rid: str) -> dict[tuple[str, int, int], bytes]:
    repo = h.repos.get(rid)
    assert repo is not None and repo.generation is not None
    loaded = h.loader.load(repo.generation)
    signals = SignalCache(h.blobs, h.loader.segment).signals(loaded)
    assert signals.vectors is not None
    out = {}
    for part, (segment, files) in enumerate(signals.live.parts):
        for row, f in enumerate(files):
            if f >= 0:
                start, end = (int(v) for v in segment.chunk_table[row, 1:3])
                out[(signals.paths[f], start, end)] = signals.vectors[part][row].tobytes()
    return out
