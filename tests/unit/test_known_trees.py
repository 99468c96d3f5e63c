"""A repository whose files are all known (a fork, a mirror): its cost follows what is new.

The planner stages no batch whose bundle exists, so no blob is read from git or written to
S3 for it; a first generation whose files match another's shares its segments (ADR 25)."""

from __future__ import annotations

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_manifest
from chalicelib.domain.messages import FinalizeGeneration, ParseBatch
from chalicelib.domain.models import Status, VectorState
from chalicelib.parsers import PARSER_VERSION
from chalicelib.services.search import SearchQuery
from tests.fakes.models import FakeEmbedder
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES, Harness

FORK_ID = "github:acme:gadgets"
FORK_REMOTE = "https://github.com/acme/gadgets.git"
BUNDLES = f"blobs/{PARSER_VERSION}/bundles/"


def _index(h: Harness, repository_id: str = REPO_ID) -> None:
    h.request(repository_id=repository_id)
    h.run()
    assert h.repo(repository_id).status is Status.READY


def _manifest(h: Harness, repository_id: str) -> dict[str, str]:
    generation = h.repo(repository_id).generation
    assert generation is not None
    segments = decode_manifest(h.blobs.get(layout.manifest_key(generation.key))).segments
    return {name: key for name, key in segments.items() if name != "history"}


def _hits(h: Harness, repository_id: str) -> list[tuple[str, int]]:
    found = h.searcher().search(
        SearchQuery("widget configuration", (repository_id,), mode="lexical")
    )
    return [(hit.passage.path, hit.passage.start_line) for hit in found.hits]


def test_a_fork_reads_no_blob_and_stages_no_batch() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.git.commit(FORK_REMOTE, SAMPLE_FILES)
    _index(h)
    reads, puts = h.git.blob_reads, h.blobs.puts
    _index(h, FORK_ID)
    fork = h.repo(FORK_ID)
    assert h.git.blob_reads == reads  # not one blob read from git
    sent = [m for m in h.queue.sent if getattr(m, "job_id", None) == fork.job_id]
    assert not [m for m in sent if isinstance(m, ParseBatch)]  # nothing to parse
    assert [type(m) for m in sent] == [FinalizeGeneration]
    assert (fork.files_processed, fork.stats.blobs_parsed) == (fork.num_files, 0)
    assert fork.stats.blobs_reused == h.repo().stats.blobs_parsed > 0
    assert fork.stats.chunks == h.repo().stats.chunks > 0
    # The fork wrote its manifest, history and repository objects only: no staged batch.
    assert h.blobs.puts - puts <= 3


def test_a_fork_shares_the_first_generation_and_reads_no_artifact() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.git.commit(FORK_REMOTE, SAMPLE_FILES)
    _index(h)
    read: list[str] = []
    get = h.blobs.get

    def counted(key: str) -> bytes:
        read.append(key)
        return get(key)

    h.blobs.get = counted  # type: ignore[method-assign]
    _index(h, FORK_ID)
    assert not [k for k in read if k.startswith("blobs/")]  # no bundle, no artifact
    shared = _manifest(h, FORK_ID)
    assert shared == _manifest(h, REPO_ID)
    assert all(key.startswith(f"trees/{PARSER_VERSION}/") for key in shared.values())
    assert _hits(h, FORK_ID) == _hits(h, REPO_ID) != []


def test_other_files_build_their_own_segments() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.git.commit(FORK_REMOTE, {**SAMPLE_FILES, "extra.py": "def extra():\n    return 1\n"})
    _index(h)
    _index(h, FORK_ID)
    ours, theirs = _manifest(h, REPO_ID), _manifest(h, FORK_ID)
    assert ours.keys() == theirs.keys() and set(ours.values()).isdisjoint(theirs.values())
    assert h.repo(FORK_ID).stats.total_files == h.repo().stats.total_files + 1


def test_a_corrupt_shared_manifest_is_built_anew() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.git.commit(FORK_REMOTE, SAMPLE_FILES)
    _index(h)
    for key in h.blobs.keys("trees/"):
        if key.endswith("manifest.json.gz"):
            h.blobs.objects[key] = b"not a manifest"
    _index(h, FORK_ID)
    assert h.repo(FORK_ID).stats.chunks == h.repo().stats.chunks > 0


def test_a_fork_with_an_embedder_gets_its_vectors_and_publishes_them() -> None:
    h = Harness(embedder=FakeEmbedder())
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.git.commit(FORK_REMOTE, SAMPLE_FILES)
    _index(h)
    _index(h, FORK_ID)
    fork = h.repo(FORK_ID)
    assert fork.vectors is VectorState.COMPLETE
    assert fork.stats.embedding_model == h.repo().stats.embedding_model is not None
    assert fork.stats.chunks_embedded == 0 < h.repo().stats.chunks_embedded  # vectors by blob
    query = SearchQuery("widget configuration", (FORK_ID,), mode="semantic")
    assert h.searcher().search(query).hits


def test_a_fork_with_one_new_file_parses_only_that_file() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.git.commit(FORK_REMOTE, {**SAMPLE_FILES, "widgets/zz_new.py": "def zz():\n    return 2\n"})
    _index(h)
    reads = h.git.blob_reads
    _index(h, FORK_ID)
    fork = h.repo(FORK_ID)
    assert fork.stats.blobs_parsed == 1
    assert h.git.blob_reads - reads <= h.config.batch_files  # the new file's batch only
    assert fork.files_processed == fork.num_files
    assert fork.stats.total_files == h.repo().stats.total_files + 1
