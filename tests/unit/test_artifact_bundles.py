"""Artifact bundles: a parse batch's artifacts in one object, named by the batch's blobs."""

from __future__ import annotations

import pytest

from chalicelib.domain import layout
from chalicelib.domain.bundles import decode_bundle, encode_bundle
from chalicelib.domain.messages import FinalizeGeneration
from chalicelib.domain.models import Status
from chalicelib.parsers import PARSER_VERSION
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES, Harness

FORK_ID = "github:acme:gadgets"
FORK_REMOTE = "https://github.com/acme/gadgets.git"
BUNDLES = f"blobs/{PARSER_VERSION}/bundles/"


def test_a_bundle_gives_back_each_artifact_byte_for_byte() -> None:
    artifacts = {("b" * 40, "python"): b"\x78second", ("a" * 40, "markdown"): b"first"}
    assert decode_bundle(encode_bundle(artifacts)) == artifacts
    assert decode_bundle(encode_bundle({})) == {}


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00\x09not json!", b"\x00\x00\x00\x02[]extra"])
def test_a_corrupt_bundle_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="corrupt artifact bundle"):
        decode_bundle(data)


def test_a_bundle_is_named_by_its_set_of_blobs() -> None:
    one = layout.blob_bundle_key("v", [("a", "python"), ("b", "c")])
    assert one == layout.blob_bundle_key("v", [("b", "c"), ("a", "python"), ("a", "python")])
    assert one != layout.blob_bundle_key("v", [("a", "python")])
    assert one != layout.blob_bundle_key("w", [("a", "python"), ("b", "c")])
    assert one.startswith("blobs/v/bundles/")


def _index(h: Harness, repository_id: str = REPO_ID) -> None:
    h.request(repository_id=repository_id)
    h.run()
    assert h.repo(repository_id).status is Status.READY


def test_every_parse_batch_leaves_one_bundle() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    _index(h)
    batches = -(-h.repo().num_files // h.config.batch_files)
    assert len(h.blobs.keys(BUNDLES)) == batches


def test_a_fork_of_an_indexed_tree_is_built_from_its_bundles_without_parsing() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.git.commit(FORK_REMOTE, SAMPLE_FILES)
    _index(h)
    for key in h.blobs.keys("blobs/"):
        if not key.startswith(BUNDLES):  # only the bundles are left to read
            del h.blobs.objects[key]
    _index(h, FORK_ID)
    fork = h.repo(FORK_ID)
    assert (fork.stats.blobs_parsed, fork.stats.blobs_reused) == (0, 5)
    assert fork.stats.chunks == h.repo().stats.chunks > 0


def test_finalize_reads_each_artifact_when_a_bundle_is_missing() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    h.run(keep=lambda m: not isinstance(m, FinalizeGeneration))
    for key in h.blobs.keys(BUNDLES):
        del h.blobs.objects[key]
    job = next(iter(h.jobs.jobs.values()))
    h.pipeline().handle(FinalizeGeneration(job.job_id), "index")
    assert h.repo().status is Status.READY and h.repo().stats.chunks > 0
