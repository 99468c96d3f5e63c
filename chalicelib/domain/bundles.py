"""Artifact bundles: the blob artifacts of one parse batch in one object. Pure.

A parse worker writes each blob's artifact under its own key (`layout.blob_artifact_key`),
which any later job of any repository can reuse, and also the whole batch's artifacts as one
bundle under a key named by the batch's (blob oid, language) set (`layout.blob_bundle_key`).
The bundle saves S3 round trips where a batch is read or checked as a whole: the generation
builder reads a batch's artifacts in one GET rather than one per file, and a batch whose
bundle exists (a fork, a mirror, a redelivery) is known parsed from one HEAD.

A bundle holds each artifact's bytes exactly as stored under its own key (`encode_artifact`):
an index `[[oid, language, offset, length], ...]` as JSON after a 4-byte length, then the
artifacts back to back (each already compressed).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

_HEADER = struct.Struct(">I")

Member = tuple[str, str]  # (blob oid, language)


def encode_bundle(artifacts: Mapping[Member, bytes]) -> bytes:
    """One object holding every encoded artifact, in (oid, language) order."""
    index, payload, offset = [], bytearray(), 0
    for (oid, language), data in sorted(artifacts.items()):
        index.append([oid, language, offset, len(data)])
        payload += data
        offset += len(data)
    header = json.dumps(index, separators=(",", ":")).encode()
    return _HEADER.pack(len(header)) + header + bytes(payload)


def decode_bundle(data: bytes) -> dict[Member, bytes]:
    """The encoded artifacts of a bundle by (oid, language); ValueError when corrupt."""
    try:
        (n,) = _HEADER.unpack_from(data)
        index = json.loads(data[4 : 4 + n])
        body = memoryview(data)[4 + n :]
        found = {(oid, lang): bytes(body[off : off + size]) for oid, lang, off, size in index}
    except (struct.error, ValueError, TypeError) as exc:
        raise ValueError("corrupt artifact bundle") from exc
    if sum(len(v) for v in found.values()) != len(body):
        raise ValueError("corrupt artifact bundle")
    return found
