"""Where things live in the bucket. Keys are never shown to clients."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from chalicelib.domain.ids import storage_key


def tree_prefix(parser_version: str, files: Iterable[tuple[str, str, str, int]]) -> str:
    """Where a repository's first generation keeps its segments, named by the (path, blob oid,
    language, size) of every file it indexes: another repository with the same files (a
    fork, a mirror) has the same segments, so they are built once (ADR 25)."""
    listing = "\n".join(
        sorted(f"{path}\0{oid}\0{language}\0{size}" for path, oid, language, size in files)
    )
    return f"trees/{parser_version}/{hashlib.sha256(listing.encode()).hexdigest()}"


def blob_artifact_key(parser_version: str, oid: str, language: str) -> str:
    return f"blobs/{parser_version}/{oid}/{language}"


def generation_prefix(repository_id: str, fence: int, sha: str) -> str:
    return f"repos/{storage_key(repository_id)}/gen/{fence:012d}-{sha}"


def manifest_key(generation_prefix: str) -> str:
    return f"{generation_prefix}/manifest.json.gz"


def segment_key(generation_prefix: str, name: str) -> str:
    return f"{generation_prefix}/{name}.seg"


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}"


def job_plan_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}/plan.json.gz"


def job_batch_key(job_id: str, batch: int) -> str:
    return f"{job_prefix(job_id)}/batch-{batch:06d}.bin"


def files_shard_key(generation_prefix: str, shard: int) -> str:
    return segment_key(generation_prefix, f"symbols-{shard:02d}")


def blob_vectors_key(model: str, parser_version: str, oid: str, language: str) -> str:
    """One blob's chunk vectors by one embedding model (domain/vectors.py)."""
    return f"vectors/{model}/{parser_version}/{oid}-{language}.vec"


def blob_bundle_key(parser_version: str, members: Iterable[tuple[str, str]]) -> str:
    """The artifacts of a set of (blob oid, language) pairs in one object (domain/bundles.py),
    named by that set: the same blobs always make the same bundle."""
    listing = "\n".join(sorted({f"{oid}/{language}" for oid, language in members}))
    return f"blobs/{parser_version}/bundles/{hashlib.sha256(listing.encode()).hexdigest()}"
