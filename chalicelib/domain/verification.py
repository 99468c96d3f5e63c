"""Checks that a cited span really is in the blob at the indexed commit.

A source survives only if its path is in the generation's manifest, the text we hold for
that path hashes to the manifest's git blob id, and its lines lie inside that text.
"""

from __future__ import annotations

import hashlib


def git_blob_oid(data: bytes) -> str:
    """The id git gives a blob with these bytes."""
    header = f"blob {len(data)}\0".encode()
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


def line_count(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def span_is_valid(text: str | None, expected_oid: str | None, start: int, end: int) -> bool:
    if text is None or expected_oid is None:
        return False
    if git_blob_oid(text.encode()) != expected_oid:
        return False
    return 1 <= start <= end <= line_count(text)
