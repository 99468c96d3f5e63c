"""Chunk embeddings: what text a chunk is embedded as, the per-blob vector objects that cache
them, and the generation's vector segment that semantic search reads.

- A chunk is embedded as its enclosing symbol's name and its lines: content only, never the
  path, so one blob's vectors serve every path, commit and fork that holds it.
- `vectors/<model-id>/<parser-version>/<oid>-<language>` holds one blob's vectors in chunk order,
  with each chunk's content hash: a changed file reuses the vectors of the chunks it kept
  (by hash, from its previous blob's object) and embeds only the others.
- A generation's vector segment is the float16 matrix of its lexical segment's chunks, row for
  row (base and delta segments alike), so the base/delta/tombstone view of the lexical side
  applies to it unchanged.

Stored form (both kinds): b"SVEC", a 4-byte big-endian header length, a JSON header
`{"format", "model", "dimensions", "rows", "hashes"?}`, then rows x dimensions little-endian
float16 values.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chalicelib.domain.lexical import Array
from chalicelib.domain.models import BlobArtifact, Chunk
from chalicelib.errors import PermanentError

FORMAT = "strata-vectors-1"
MAGIC = b"SVEC"
MAX_EMBED_CHARS = 2000  # the local model reads 256 tokens; Titan more, at a price per token
_DTYPE = np.dtype("<f2")


def embedding_text(lines: Sequence[str], chunk: Chunk) -> str:
    body = "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
    text = f"{chunk.symbol}\n{body}" if chunk.symbol else body
    return text[:MAX_EMBED_CHARS]


def chunk_texts(artifact: BlobArtifact) -> list[str]:
    """The text each chunk of the artifact is embedded as, in chunk order."""
    lines = artifact.text.split("\n")
    return [embedding_text(lines, c) for c in artifact.chunks]


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class VectorBlock:
    """`rows` vectors of one model: a blob's (with chunk hashes) or a segment's."""

    model: str
    matrix: Array  # (rows, dimensions) float16
    hashes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])

    def by_hash(self) -> dict[str, Array]:
        return dict(zip(self.hashes, self.matrix, strict=True))


def encode_vectors(block: VectorBlock) -> bytes:
    matrix = np.ascontiguousarray(block.matrix, dtype=_DTYPE)
    header: dict[str, object] = {
        "format": FORMAT,
        "model": block.model,
        "dimensions": int(matrix.shape[1]) if matrix.ndim == 2 else 0,
        "rows": int(matrix.shape[0]),
    }
    if block.hashes:
        header["hashes"] = list(block.hashes)
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(head)) + head + matrix.tobytes()


def decode_vectors(data: bytes) -> VectorBlock:
    try:
        if data[:4] != MAGIC:
            raise ValueError("not a vector object")
        (size,) = struct.unpack(">I", data[4:8])
        header = json.loads(data[8 : 8 + size])
        if header.get("format") != FORMAT:
            raise ValueError("unknown vector format")
        rows, dims = int(header["rows"]), int(header["dimensions"])
        matrix = np.frombuffer(data, dtype=_DTYPE, offset=8 + size).reshape(rows, dims)
        hashes = tuple(str(h) for h in header.get("hashes", ()))
        if hashes and len(hashes) != rows:
            raise ValueError("hash count")
        return VectorBlock(str(header["model"]), matrix, hashes)
    except (struct.error, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"corrupt vector object: {exc}") from exc


def stack(model: str, blocks: Sequence[VectorBlock], dimensions: int) -> VectorBlock:
    """One segment block from blob blocks, in order."""
    if not blocks:
        return VectorBlock(model, np.zeros((0, dimensions), dtype=_DTYPE))
    return VectorBlock(model, np.concatenate([b.matrix for b in blocks]).astype(_DTYPE))


def to_float16(vectors: Array) -> Array:
    out: Array = np.asarray(vectors, dtype=np.float32).astype(_DTYPE)
    return out


def file_rows(table: Array) -> dict[int, Array]:
    """Row indices of each file's chunks in a lexical chunk table, in table order."""
    order = np.argsort(table[:, 0], kind="stable")
    files, starts = np.unique(table[order, 0], return_index=True)
    ends = [*starts[1:], len(order)]
    return {int(f): order[s:e] for f, s, e in zip(files, starts, ends, strict=True)}


@dataclass(frozen=True)
class SegmentChunks:
    """What vector assembly needs of a lexical segment: its files and chunk table."""

    paths: Sequence[str]
    oids: Sequence[str]
    table: Array

    def key(self, file: int) -> tuple[str, str]:
        return self.paths[file], self.oids[file]


def assemble(
    target: SegmentChunks,
    sources: Sequence[tuple[SegmentChunks, VectorBlock]],
    blobs: dict[int, VectorBlock],
    *,
    model: str,
    dimensions: int,
) -> tuple[VectorBlock, list[int]]:
    """The vector rows of the `target` segment's chunks: each file's rows are taken from
    `blobs` (by file index), else copied from a source segment holding the same path at the
    same blob. Returns the block and the files found in neither (the caller loads their blob
    objects and calls again); rows of missing files are zero."""
    matrix = np.zeros((len(target.table), dimensions), dtype=_DTYPE)
    indexed = [
        ({s.key(i): i for i in range(len(s.paths))}, file_rows(s.table), v) for s, v in sources
    ]
    missing: list[int] = []
    for f, rows in file_rows(target.table).items():
        block = blobs.get(f)
        if block is not None and block.rows == len(rows):
            matrix[rows] = block.matrix
            continue
        for index, source_rows, vectors in indexed:
            i = index.get(target.key(f))
            if i is not None and len(source_rows.get(i, ())) == len(rows):
                matrix[rows] = vectors.matrix[source_rows[i]]
                break
        else:
            missing.append(f)
    return VectorBlock(model, matrix), missing


def model_key(raw: str) -> str:
    """A model id safe in an S3 key segment: lower-cased, every run of characters outside
    [a-z0-9.-] made one `-`."""
    return re.sub(r"[^a-z0-9.-]+", "-", raw.lower()).strip("-")


def unit_rows(matrix: Array, who: str) -> Array:
    """Rows scaled to unit length as float32; a zero row is a broken model answer."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if not np.all(norms > 0):
        raise PermanentError(f"{who} returned a zero vector")
    out: Array = np.ascontiguousarray(matrix / norms, dtype=np.float32)
    return out
