"""Per-generation retrieval: the file signals hybrid ranking fuses, and semantic chunk search.

`Signals` are derived once per loaded generation (cached by its immutable key) from the
segments the loader already holds: the lexical base and delta (file BM25), the change history,
the vector segments (float16 on S3, float32 in memory) and each file's definitions (from the
files-index shards, without building the code graph).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chalicelib.domain.file_ranking import (
    DescribedDefinitions,
    FileBM25,
    FileNames,
    FileSymbols,
    LiveFiles,
)
from chalicelib.domain.history import HistoryIndex, decode_history
from chalicelib.domain.lexical import Array, LexicalSegment
from chalicelib.domain.path_roles import path_role
from chalicelib.domain.vectors import VectorBlock, decode_vectors
from chalicelib.errors import PermanentError
from chalicelib.ports import BlobStore
from chalicelib.services.generations import LoadedGeneration

SegmentSource = Callable[[str], LexicalSegment]


@dataclass(frozen=True)
class Signals:
    live: LiveFiles
    bm25: FileBM25
    names: FileNames
    history: HistoryIndex | None
    vectors: tuple[Array, Array] | None  # float32 rows of base, delta chunks
    model: str | None
    roles: tuple[str, ...]
    symbols: FileSymbols
    described: DescribedDefinitions

    @property
    def paths(self) -> tuple[str, ...]:
        return self.live.paths

    def chunk_similarities(self, query_vector: Array) -> tuple[Array, Array] | None:
        if self.vectors is None:
            return None
        base, delta = self.vectors
        return base @ query_vector, delta @ query_vector

    def text_signals(self, query: str) -> dict[str, Array]:
        """Every file's signals that need no query vector, by name."""
        signals = {
            "lexical": self.bm25.scores(query),
            "symbol": self.symbols.scores(query),
            "name": self.names.scores(query),
            "described": self.described.scores(query),
        }
        if self.history is not None:
            signals["history"] = self.history.scores(query)
        return signals


class SignalCache:
    """Signals by generation key, and decoded vector segments by object key (LRU)."""

    def __init__(self, blobs: BlobStore, segments: SegmentSource, max_entries: int = 8) -> None:
        self._blobs = blobs
        self._segments = segments
        self._max = max(1, max_entries)
        self._signals: OrderedDict[str, Signals] = OrderedDict()
        self._vectors: OrderedDict[str, VectorBlock] = OrderedDict()
        self._lock = threading.Lock()

    def signals(self, loaded: LoadedGeneration) -> Signals:
        key = loaded.generation.key
        with self._lock:
            hit = self._signals.get(key)
            if hit is not None:
                self._signals.move_to_end(key)
                return hit
        try:
            built = self._build(loaded)
        except (KeyError, ValueError) as exc:
            raise PermanentError(f"generation {loaded.generation.sha[:12]} is unreadable") from exc
        with self._lock:
            self._signals[key] = built
            while len(self._signals) > self._max:
                self._signals.popitem(last=False)
        return built

    def _build(self, loaded: LoadedGeneration) -> Signals:
        m = loaded.manifest
        base = self._segments(m.segments["lexical"])
        delta_key = m.segments.get("lexical_delta")
        live = LiveFiles(base, self._segments(delta_key) if delta_key else None, set(m.tombstones))
        history_key = m.segments.get("history")
        history = None
        if history_key:
            history = HistoryIndex(decode_history(self._blobs.get(history_key)), live.paths)
        definitions = _definitions(loaded, live.paths)
        return Signals(
            live=live,
            bm25=FileBM25(live),
            names=FileNames(live.paths),
            history=history,
            vectors=self._matrices(loaded, live),
            model=m.embedding_model,
            roles=tuple(path_role(p) for p in live.paths),
            symbols=FileSymbols(definitions, len(live.paths)),
            described=DescribedDefinitions(definitions, len(live.paths)),
        )

    def _matrices(self, loaded: LoadedGeneration, live: LiveFiles) -> tuple[Array, Array] | None:
        m = loaded.manifest
        if not m.embedding_model or "vectors" not in m.segments:
            return None
        base = self._block(m.segments["vectors"])
        delta_key = m.segments.get("vectors_delta")
        delta = self._block(delta_key) if delta_key else None
        dims = base.matrix.shape[1]
        rows = (len(live.chunk_files[0]), len(live.chunk_files[1]))
        delta_matrix = delta.matrix if delta is not None else np.zeros((0, dims), np.float32)
        if (base.rows, len(delta_matrix)) != rows:
            raise ValueError("vector segments do not match the lexical segments")
        return base.matrix, delta_matrix

    def _block(self, key: str) -> VectorBlock:
        with self._lock:
            hit = self._vectors.get(key)
            if hit is not None:
                self._vectors.move_to_end(key)
                return hit
        raw = decode_vectors(self._blobs.get(key))
        block = VectorBlock(raw.model, raw.matrix.astype(np.float32))  # once, not per query
        with self._lock:
            self._vectors[key] = block
            while len(self._vectors) > self._max * 2:
                self._vectors.popitem(last=False)
        return block


def _definitions(loaded: LoadedGeneration, paths: tuple[str, ...]) -> dict[int, list[str]]:
    """The names each live file (by index) defines."""
    definitions = loaded.definitions
    if definitions is None:
        return {}
    index = {p: i for i, p in enumerate(paths)}
    return {
        index[path]: [node.name for node in nodes]
        for path, nodes in definitions.items()
        if path in index
    }
