"""Serving a generation: resolve the repository pointer, load its segments once per process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_graph, decode_graph_files, decode_manifest
from chalicelib.domain.freshness import Freshness, lag_seconds
from chalicelib.domain.graph import CodeGraph, GraphFile, Node, definitions_by_path
from chalicelib.domain.identity import Caller
from chalicelib.domain.increments import SHARD_SEGMENT
from chalicelib.domain.lexical import LexicalSegment
from chalicelib.domain.lexical_view import LexicalView
from chalicelib.domain.models import (
    FileEntry,
    Generation,
    Manifest,
    Repository,
    Status,
    VectorState,
)
from chalicelib.domain.tenancy import can_read, visible
from chalicelib.errors import NotReady, PermanentError
from chalicelib.ports import BlobStore, Clock, RepoStore


class LazyGraph:
    """A generation's code graph, made on first use (once, thread-safe): resolving references
    across files costs far more than search needs. Search reads `definitions`, each file's
    definitions taken from the shards without resolution."""

    def __init__(
        self, files: Sequence[GraphFile] | None, stored: Callable[[], CodeGraph] | None = None
    ) -> None:
        self._files = files  # decoded files-index shards, or None with a stored graph
        self._stored = stored  # decodes the graph of a generation written before the shards
        self._graph: CodeGraph | None = None
        self._definitions: Mapping[str, Sequence[Node]] | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._graph is not None

    def graph(self) -> CodeGraph:
        if self._graph is None:
            with self._lock:
                if self._graph is None:
                    self._graph = self._make()
        return self._graph

    def definitions(self) -> Mapping[str, Sequence[Node]]:
        # Without the lock: racing threads compute equal values, and either may win.
        if self._definitions is None:
            if self._files is None or self._graph is not None:
                self._definitions = self.graph().by_path  # the same nodes, not a copy
            else:
                self._definitions = definitions_by_path(self._files)
        return self._definitions

    def _make(self) -> CodeGraph:
        if self._stored is not None:
            return self._stored()
        return CodeGraph.build(self._files or ())


@dataclass(frozen=True)
class LoadedGeneration:
    generation: Generation
    manifest: Manifest
    lexical: LexicalSegment | LexicalView
    files: dict[str, FileEntry]
    code: LazyGraph | None = None

    @property
    def graph(self) -> CodeGraph | None:
        """The resolved code graph (built on first access): graph queries need its edges."""
        return None if self.code is None else self.code.graph()

    @property
    def definitions(self) -> Mapping[str, Sequence[Node]] | None:
        """Each file's definitions (path -> graph nodes), without resolving the graph."""
        return None if self.code is None else self.code.definitions()


@dataclass(frozen=True)
class Serving:
    """What a query answers from, and how fresh it is."""

    repository: Repository
    loaded: LoadedGeneration
    now: float = 0.0  # when the pointer was resolved (the service's clock)

    @property
    def stale(self) -> bool:
        r = self.repository
        return r.status is Status.INDEXING or bool(r.head_sha and r.head_sha != r.indexed_sha)

    def freshness(self, now: float | None = None) -> Freshness:
        r = self.repository
        lag = lag_seconds(r, self.now if now is None else now)
        return Freshness(r.indexed_sha, r.head_sha, self.stale, lag)


_T = TypeVar("_T")
_SHARD_THREADS = 8


class _Lru(Generic[_T]):
    """Decoded immutable objects by key, least recently used dropped first (thread-safe)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, _T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> _T | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: str, value: _T) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class GenerationLoader:
    """An LRU of loaded generations keyed by their immutable key (safe to share). Lexical
    segments and files-index shards are cached by object key too: successive generations
    share their base and most shards, so a new generation reads and decodes only what it
    changed; its code graph is built from the shards on first use (see LazyGraph)."""

    def __init__(self, blobs: BlobStore, max_entries: int = 8) -> None:
        self._blobs = blobs
        self._max = max(1, max_entries)
        self._cache: OrderedDict[str, LoadedGeneration] = OrderedDict()
        self._segments: _Lru[LexicalSegment] = _Lru(self._max * 2)
        self._shards: _Lru[list[GraphFile]] = _Lru(self._max * 64)
        self._lock = threading.Lock()

    def _segment(self, key: str) -> LexicalSegment:
        hit = self._segments.get(key)
        if hit is None:
            hit = LexicalSegment.from_bytes(self._blobs.get(key))
            self._segments.put(key, hit)
        return hit

    def segment(self, key: str) -> LexicalSegment:
        """A lexical segment by object key (cached: generations share their base)."""
        return self._segment(key)

    def _shard(self, key: str) -> list[GraphFile]:
        hit = self._shards.get(key)
        if hit is None:
            hit = decode_graph_files(self._blobs.get(key))
            self._shards.put(key, hit)
        return hit

    def _graph(self, generation: Generation, manifest: Manifest) -> LazyGraph | None:
        """The generation's graph, from its files-index shards (read and decoded here, the
        graph built on first use) or a stored graph (generations written before the shards)."""
        stored = manifest.segments.get("graph")
        if stored is not None:
            return LazyGraph(None, lambda: self._stored_graph(generation, stored))
        keys: Sequence[str] = [
            k for name, k in sorted(manifest.segments.items()) if name.startswith(SHARD_SEGMENT)
        ]
        if not keys:
            return None
        with ThreadPoolExecutor(max_workers=_SHARD_THREADS) as pool:
            shards = list(pool.map(self._shard, keys))
        return LazyGraph([f for shard in shards for f in shard])

    def _stored_graph(self, generation: Generation, key: str) -> CodeGraph:
        try:
            return decode_graph(self._blobs.get(key))
        except (ValueError, KeyError) as exc:
            raise PermanentError(f"generation {generation.sha[:12]} is unreadable") from exc

    def _lexical(self, manifest: Manifest) -> LexicalSegment | LexicalView:
        base = self._segment(manifest.segments["lexical"])
        delta_key = manifest.segments.get("lexical_delta")
        if delta_key is None and not manifest.tombstones:
            return base
        delta = self._segment(delta_key) if delta_key else None
        return LexicalView(base, delta, frozenset(manifest.tombstones))

    def load(self, generation: Generation) -> LoadedGeneration:
        with self._lock:
            hit = self._cache.get(generation.key)
            if hit is not None:
                self._cache.move_to_end(generation.key)
                return hit
        loaded = self._read(generation)
        with self._lock:
            self._cache[generation.key] = loaded
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return loaded

    def _read(self, generation: Generation) -> LoadedGeneration:
        try:
            manifest = decode_manifest(self._blobs.get(layout.manifest_key(generation.key)))
            lexical = self._lexical(manifest)
            graph = self._graph(generation, manifest)
        except (ValueError, KeyError) as exc:
            raise PermanentError(f"generation {generation.sha[:12]} is unreadable") from exc
        files = {f.path: f for f in manifest.files}
        return LoadedGeneration(generation, manifest, lexical, files, graph)


class PointerCache:
    """Repository items with a generation, remembered for a few seconds per process.

    A query must resolve the generation pointer, and a DynamoDB read costs more than the
    search itself; a warm function may serve a generation up to `ttl_seconds` after a newer
    one is published (its freshness fields come from the same cached item, so they agree).
    Items without a generation, or whose vectors are being embedded, are never cached, so
    a first index and its vector publish show up at once."""

    def __init__(self, repos: RepoStore, clock: Clock, ttl_seconds: float = 2.0) -> None:
        self._repos = repos
        self._clock = clock
        self._ttl = ttl_seconds
        self._items: dict[str, tuple[float, Repository]] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock.now()

    def get(self, repository_id: str, *, fresh: bool = False) -> Repository | None:
        """The item, from the cache unless `fresh` (a read that skips the cache)."""
        now = self._clock.now()
        with self._lock:
            cached = self._items.get(repository_id)
        if cached and now - cached[0] < self._ttl and not fresh:
            return cached[1]
        repo = self._repos.get(repository_id)
        with self._lock:
            if _settled(repo) and self._ttl > 0:
                assert repo is not None
                self._items[repository_id] = (now, repo)
            else:
                self._items.pop(repository_id, None)
        return repo


def _settled(repo: Repository | None) -> bool:
    """Whether the item may be cached: it serves a generation whose vectors are not due."""
    return (
        repo is not None
        and repo.generation is not None
        and repo.vectors is not VectorState.EMBEDDING
    )


def estimated_seconds(repo: Repository) -> int:
    """A rough wait for a client polling an index in progress: files parse at ~50/s and, on
    one CPU worker with the local model, embed at ~2/s (about 15 chunks/s)."""
    if not repo.num_files:
        return 30
    to_parse = max(0, repo.num_files - repo.files_processed)
    to_embed = 0 if repo.files_embedded is None else max(0, repo.num_files - repo.files_embedded)
    return max(5, to_parse // 50 + to_embed // 2)


def readable(pointers: PointerCache, repository_id: str, caller: Caller) -> Repository | None:
    """The repository item if `caller` may see it, else None (as for an unknown one). A
    cached item that does not show the caller's tenant is read again: the tenant may have
    registered since it was cached."""
    repo = pointers.get(repository_id)
    if repo is not None and not can_read(caller, repo):
        repo = pointers.get(repository_id, fresh=True)
    return visible(caller, repo)


def serving(
    pointers: PointerCache, loader: GenerationLoader, repository_id: str, caller: Caller
) -> Serving:
    """The generation to answer from, or NotReady carrying the repository's status. A
    repository `caller` may not see answers as an unknown one does."""
    repo = readable(pointers, repository_id, caller)
    if repo is None:
        raise NotReady("this repository has not been indexed; POST /repositories/index", "idle")
    if repo.generation is None:
        if repo.status is Status.INDEXING:
            raise NotReady(
                "the repository is being indexed; try again shortly",
                "indexing",
                estimated_seconds=estimated_seconds(repo),
            )
        if repo.status is Status.ERROR:
            raise NotReady(f"indexing failed: {repo.error or 'unknown error'}", "error")
        raise NotReady("this repository has not been indexed; POST /repositories/index", "idle")
    return Serving(repo, loader.load(repo.generation), pointers.now())
