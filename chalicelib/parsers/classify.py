"""Why a blob's bytes cannot be indexed as text, if they cannot. Pure: bytes in, reason out."""

from __future__ import annotations

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
# Git's own heuristic: a NUL byte in the first 8000 bytes means binary.
BINARY_SNIFF_BYTES = 8000

LFS = "lfs"
BINARY = "binary"
UNDECODABLE = "undecodable"


def classify(data: bytes) -> str | None:
    """ "lfs", "binary" or "undecodable" (not strict UTF-8) for unindexable bytes, else None."""
    if data.startswith(LFS_POINTER_PREFIX):
        return LFS
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return BINARY
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return UNDECODABLE
    return None
