"""Ranked passages of one generation, by mode: lexical (BM25 chunks with definition boosts),
semantic (nearest chunks by embedding), hybrid (files ranked by fused signals, each shown by
its best chunk: one passage per file, so near-duplicate chunks of one file do not crowd the
list) and symbol (definitions by name). Search and chat both retrieve through here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from chalicelib.domain.hybrid import DEFAULT_WEIGHTS, Weights, fuse, join_signals, ranked
from chalicelib.domain.lexical import Array, Hit
from chalicelib.domain.path_roles import asked_roles, demoted
from chalicelib.domain.ranking import boost_definitions
from chalicelib.domain.symbol_match import match_score
from chalicelib.errors import Conflict
from chalicelib.ports import Embedder
from chalicelib.services.generations import LoadedGeneration
from chalicelib.services.retrieval import SignalCache, Signals

RERANK_POOL = 50
CHUNK_POOL = 200  # lexical chunks scanned for the best chunk of each ranked file
_QUERY_CACHE = 256


@dataclass(frozen=True)
class Passage:
    path: str
    start_line: int
    end_line: int
    score: float
    language: str
    snippet: str
    extra: dict[str, object] = field(default_factory=dict)


def normalised_query(query: str) -> str:
    """What a query is embedded as, and cached under: runs of whitespace are one space (the
    models' tokenizers split on whitespace, so the vector is the same)."""
    return " ".join(query.split())


class QueryVectors:
    """Query embeddings by normalised text (LRU): chat follow-ups and retries repeat queries.

    `pending` embeds on one background thread, so hybrid search scores its text signals
    while the model runs (the model releases the GIL; Bedrock is a network call): a hybrid
    query costs about the embedding, not the embedding plus the rest.
    """

    def __init__(self, embedder: Embedder | None) -> None:
        self.embedder = embedder
        self._cache: OrderedDict[str, Array] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def vector(self, query: str, model: str | None) -> Array | None:
        """The query's vector if the generation's vectors come from our model, else None."""
        if self.embedder is None or model is None or model != self.embedder.model_id:
            return None
        key = normalised_query(query)
        with self._lock:
            hit = self._recent(key)
        if hit is None:
            hit = self.embedder.embed([key])[0].astype(np.float32)
            with self._lock:
                self._cache[key] = hit
                while len(self._cache) > _QUERY_CACHE:
                    self._cache.popitem(last=False)
        return hit

    def pending(self, query: str, model: str | None) -> Callable[[], Array | None]:
        """`vector(query, model)`, started now and collected by calling the result."""
        if self.embedder is None or model != self.embedder.model_id:
            return lambda: None
        with self._lock:
            hit = self._recent(normalised_query(query))
            if hit is None:
                self._pool = self._pool or ThreadPoolExecutor(1, "query-embedding")
                return self._pool.submit(self.vector, query, model).result
        return lambda: hit

    def _recent(self, key: str) -> Array | None:
        """The cached vector, now the most recently used (the caller holds the lock)."""
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
        return hit


class Retriever:
    def __init__(
        self, signals: SignalCache, queries: QueryVectors, weights: Weights = DEFAULT_WEIGHTS
    ) -> None:
        self.signals = signals
        self.queries = queries
        self.weights = weights

    def lexical(self, loaded: LoadedGeneration, query: str, k: int) -> list[Passage]:
        hits = loaded.lexical.search(query, max(k, RERANK_POOL))
        definitions = loaded.definitions
        if definitions is not None:
            hits = boost_definitions(query, hits, definitions, k)
        return [_passage(loaded, h, query) for h in hits[:k]]

    def semantic(self, loaded: LoadedGeneration, query: str, k: int) -> list[Passage]:
        s = self.signals.signals(loaded)
        qv = self.queries.vector(query, s.model)
        sims = None if qv is None else s.chunk_similarities(qv)
        if sims is None:
            raise Conflict(
                "this generation has no vectors of the configured embedding model; "
                "use mode lexical or hybrid, or re-index"
            )
        files = np.concatenate(s.live.chunk_files)
        scores = np.where(files >= 0, np.concatenate(sims), -np.inf)
        out = []
        for row in ranked(scores, k):
            if not np.isfinite(scores[row]):
                break
            path, start, end = _chunk_span(s, row)
            out.append(_passage(loaded, Hit(path, start, end, float(scores[row]), "", -1), query))
        return out

    def hybrid(self, loaded: LoadedGeneration, query: str, k: int) -> list[Passage]:
        return [p for _, p in self.hybrid_many([loaded], query, k)]

    def hybrid_many(
        self, loaded: Sequence[LoadedGeneration], query: str, k: int
    ) -> list[tuple[int, Passage]]:
        """The k best files of several generations (index into `loaded`, passage): signals
        are standardised over all their files together, so scores compare across them."""
        signals, raw, sims = self.file_signals(loaded, query)
        joined = join_signals(raw)
        asked = asked_roles(query)
        down = [d for s in signals for d in demoted(s.roles, asked)]
        fused = fuse(joined, down, self.weights.for_query(query))
        owners = [(g, i) for g, s in enumerate(signals) for i in range(len(s.paths))]
        out = []
        best: dict[int, dict[str, tuple[int, int]]] = {}
        for row in ranked(fused.scores, k):
            g, i = owners[row]
            s = signals[g]
            path = s.paths[i]
            if g not in best:
                best[g] = _best_lexical_chunks(loaded[g], query)
            start, end = best[g].get(path) or _best_chunk(s, i, sims[g])
            hit = Hit(path, start, end, float(fused.scores[row]), "", -1)
            parts = {name: round(float(p[row]), 3) for name, p in fused.parts.items()}
            out.append((g, _passage(loaded[g], hit, query, {"signals": parts})))
        return out

    def file_signals(
        self, loaded: Sequence[LoadedGeneration], query: str
    ) -> tuple[list[Signals], list[dict[str, Array]], list[tuple[Array, Array] | None]]:
        """Per generation: its Signals, every file's raw signals by name, and the chunk
        similarities (None without vectors of our model). The query is embedded while the
        text signals are scored."""
        models = {g.manifest.embedding_model for g in loaded}
        pending = {m: self.queries.pending(query, m) for m in models}
        signals = [self.signals.signals(g) for g in loaded]
        raw = [s.text_signals(query) for s in signals]
        sims = []
        for g, s, r in zip(loaded, signals, raw, strict=True):
            vector = pending[g.manifest.embedding_model]()
            chunk_sims = None if vector is None else s.chunk_similarities(vector)
            if chunk_sims is not None:
                r["semantic"] = s.live.file_max(chunk_sims)
            sims.append(chunk_sims)
        return signals, raw, sims

    def symbol(self, loaded: LoadedGeneration, query: str, k: int) -> list[Passage]:
        definitions = loaded.definitions  # the graph's symbols, in its order, unresolved
        if definitions is None:
            return []
        scored = [
            (match_score(query, n.name.rsplit(".", 1)[-1], n.name), n)
            for nodes in definitions.values()
            for n in nodes
        ]
        ranked_nodes = sorted(
            (x for x in scored if x[0] > 0), key=lambda x: (-x[0], len(x[1].name))
        )
        out = []
        for score, n in ranked_nodes[:k]:
            snippet = loaded.lexical.lines(n.path, n.start_line, min(n.end_line, n.start_line + 7))
            entry = loaded.files.get(n.path)
            out.append(
                Passage(
                    n.path,
                    n.start_line,
                    n.end_line,
                    score,
                    entry.language if entry else "text",
                    snippet or "",
                    {"symbol": n.name, "kind": n.kind},
                )
            )
        return out


def _passage(
    loaded: LoadedGeneration, hit: Hit, query: str, extra: dict[str, object] | None = None
) -> Passage:
    entry = loaded.files.get(hit.path)
    language = hit.language or (entry.language if entry else "text")
    snippet = loaded.lexical.snippet(hit, query)
    return Passage(
        hit.path, hit.start_line, hit.end_line, hit.score, language, snippet, extra or {}
    )


def _best_lexical_chunks(loaded: LoadedGeneration, query: str) -> dict[str, tuple[int, int]]:
    best: dict[str, tuple[int, int]] = {}
    for h in loaded.lexical.search(query, CHUNK_POOL):
        best.setdefault(h.path, (h.start_line, h.end_line))
    return best


def _chunk_span(s: Signals, row: int) -> tuple[str, int, int]:
    """(path, start, end) of chunk `row` of base-then-delta storage order."""
    split = len(s.live.chunk_files[0])
    segment = s.live.base if row < split else s.live.delta
    local = row if row < split else row - split
    f = int(s.live.chunk_files[0 if row < split else 1][local])
    start, end = (int(v) for v in segment.chunk_table[local, 1:3])
    return s.paths[f], start, end


def _best_chunk(s: Signals, file: int, sims: tuple[Array, Array] | None) -> tuple[int, int]:
    """The file's most similar chunk, or its first chunk without vectors."""
    rows = np.flatnonzero(np.concatenate(s.live.chunk_files) == file)
    if not len(rows):
        return 1, 1
    row = int(rows[0] if sims is None else rows[np.argmax(np.concatenate(sims)[rows])])
    _, start, end = _chunk_span(s, row)
    return start, end
