"""Reading an object that may be absent: a cached result not made yet, a plan or report not
written yet, a batch already cleaned up. The absence is an answer there, not an error."""

from __future__ import annotations

from chalicelib.errors import NotFound
from chalicelib.ports import BlobStore


def stored(blobs: BlobStore, key: str) -> bytes | None:
    """The object at `key`, or None when there is none (other failures raise)."""
    try:
        return blobs.get(key)
    except NotFound:
        return None
