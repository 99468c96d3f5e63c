"""Writes a generation's vector segments: one float16 matrix per lexical segment it wrote, row
for row (domain/vectors.py).

A new lexical segment's rows come from the vector segments of the last generation where they
hold the same path at the same blob (a compaction reads no blob object at all), else from the
blobs' vector objects that the embed workers wrote. A segment the last generation had already
(a shared base) keeps its vector segment too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from chalicelib.domain import layout
from chalicelib.domain.lexical import LexicalSegment
from chalicelib.domain.models import Manifest
from chalicelib.domain.vectors import (
    SegmentChunks,
    VectorBlock,
    assemble,
    decode_vectors,
    encode_vectors,
)
from chalicelib.errors import NotFound
from chalicelib.parsers import PARSER_VERSION
from chalicelib.ports import BlobStore

_THREADS = 16
# lexical segment name -> the vector segment that follows it
FOLLOWS = {"lexical": "vectors", "lexical_delta": "vectors_delta"}


def _chunks(segment: LexicalSegment) -> SegmentChunks:
    return SegmentChunks(segment.paths, segment.oids, segment.chunk_table)


class VectorSegmentWriter:
    def __init__(self, blobs: BlobStore, model: str, dimensions: int) -> None:
        self._blobs = blobs
        self._model = model
        self._dims = dimensions

    def write(
        self, segments: Mapping[str, str], previous: Manifest | None, prefix: str
    ) -> dict[str, str]:
        """Vector segment keys for the lexical segments in `segments`."""
        before = previous.segments if previous and previous.embedding_model == self._model else {}
        out: dict[str, str] = {}
        for lexical, vectors in FOLLOWS.items():
            key = segments.get(lexical)
            if key is None:
                continue
            if before.get(lexical) == key and vectors in before:
                out[vectors] = before[vectors]  # the same segment: the same rows
                continue
            # A new delta holds the last delta's files and a few more: only a new base (a
            # compaction) is worth reading the last base for.
            names = FOLLOWS if lexical == "lexical" else {lexical: vectors}
            sources = [(before[lk], before[vk]) for lk, vk in names.items() if vk in before]
            out[vectors] = self._write(key, sources, layout.segment_key(prefix, vectors))
        return out

    def _write(self, lexical_key: str, sources: Sequence[tuple[str, str]], key: str) -> str:
        segment = LexicalSegment.from_bytes(self._blobs.get(lexical_key))
        target = _chunks(segment)
        known = [
            (_chunks(LexicalSegment.from_bytes(self._blobs.get(lk))), self._block(vk))
            for lk, vk in sources
        ]
        block, missing = assemble(target, known, {}, model=self._model, dimensions=self._dims)
        if missing:
            loaded = self._blob_vectors(segment, missing)
            block, missing = assemble(
                target, known, loaded, model=self._model, dimensions=self._dims
            )
        if missing:
            raise ValueError(f"{len(missing)} files have no vectors of {self._model}")
        self._blobs.put(key, encode_vectors(block), if_absent=True)
        return key

    def _block(self, key: str) -> VectorBlock:
        return decode_vectors(self._blobs.get(key))

    def _blob_vectors(
        self, segment: LexicalSegment, files: Sequence[int]
    ) -> dict[int, VectorBlock]:
        def load(f: int) -> VectorBlock | None:
            key = layout.blob_vectors_key(
                self._model, PARSER_VERSION, segment.oids[f], segment.languages[f]
            )
            try:
                return self._block(key)
            except NotFound:
                return None

        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            blocks = list(pool.map(load, files))
        return {f: b for f, b in zip(files, blocks, strict=True) if b is not None}
