"""Serving a generation: resolve the repository pointer, load its segments once per process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_graph, decode_manifest
from chalicelib.domain.freshness import lag_seconds
from chalicelib.domain.graph import CodeGraph
from chalicelib.domain.lexical import LexicalSegment
from chalicelib.domain.lexical_view import LexicalView
from chalicelib.domain.models import FileEntry, Generation, Manifest, Repository, Status
from chalicelib.errors import NotReady, PermanentError
from chalicelib.ports import BlobStore, Clock, RepoStore


@dataclass(frozen=True)
class LoadedGeneration:
    generation: Generation
    manifest: Manifest
    lexical: LexicalSegment | LexicalView
    files: dict[str, FileEntry]
    graph: CodeGraph | None = None


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

    def freshness(self, now: float | None = None) -> dict[str, object]:
        r = self.repository
        lag = lag_seconds(r, self.now if now is None else now)
        return {
            "indexedSha": r.indexed_sha,
            "headSha": r.head_sha,
            "stale": self.stale,
            "lagSeconds": lag,
        }


class GenerationLoader:
    """An LRU of loaded generations keyed by their immutable key (safe to share). Lexical
    segments are cached by object key too: successive generations share their base."""

    def __init__(self, blobs: BlobStore, max_entries: int = 8) -> None:
        self._blobs = blobs
        self._max = max(1, max_entries)
        self._cache: OrderedDict[str, LoadedGeneration] = OrderedDict()
        self._segments: OrderedDict[str, LexicalSegment] = OrderedDict()
        self._lock = threading.Lock()

    def _segment(self, key: str) -> LexicalSegment:
        with self._lock:
            hit = self._segments.get(key)
            if hit is not None:
                self._segments.move_to_end(key)
                return hit
        segment = LexicalSegment.from_bytes(self._blobs.get(key))
        with self._lock:
            self._segments[key] = segment
            while len(self._segments) > self._max * 2:
                self._segments.popitem(last=False)
        return segment

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
            graph_key = manifest.segments.get("graph")
            graph = decode_graph(self._blobs.get(graph_key)) if graph_key else None
        except (ValueError, KeyError) as exc:
            raise PermanentError(f"generation {generation.sha[:12]} is unreadable") from exc
        files = {f.path: f for f in manifest.files}
        return LoadedGeneration(generation, manifest, lexical, files, graph)


class PointerCache:
    """Repository items with a generation, remembered for a few seconds per process.

    A query must resolve the generation pointer, and a DynamoDB read costs more than the
    search itself; a warm function may serve a generation up to `ttl_seconds` after a newer
    one is published (its freshness fields come from the same cached item, so they agree).
    Items without a generation are never cached, so a first index shows up at once."""

    def __init__(self, repos: RepoStore, clock: Clock, ttl_seconds: float = 2.0) -> None:
        self._repos = repos
        self._clock = clock
        self._ttl = ttl_seconds
        self._items: dict[str, tuple[float, Repository]] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock.now()

    def get(self, repository_id: str) -> Repository | None:
        now = self._clock.now()
        with self._lock:
            cached = self._items.get(repository_id)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        repo = self._repos.get(repository_id)
        with self._lock:
            if repo is not None and repo.generation is not None and self._ttl > 0:
                self._items[repository_id] = (now, repo)
            else:
                self._items.pop(repository_id, None)
        return repo


def estimated_seconds(repo: Repository) -> int:
    """A rough wait for a client polling an index in progress (files at ~50/s)."""
    left = max(0, repo.num_files - repo.files_processed)
    return max(5, left // 50) if repo.num_files else 30


def serving(pointers: PointerCache, loader: GenerationLoader, repository_id: str) -> Serving:
    """The generation to answer from, or NotReady carrying the repository's status."""
    repo = pointers.get(repository_id)
    if repo is None:
        raise NotReady("this repository has not been indexed; POST /repositories/index", "idle")
    if repo.generation is None:
        if repo.status is Status.INDEXING:
            raise NotReady("the repository is being indexed; try again shortly", "indexing")
        if repo.status is Status.ERROR:
            raise NotReady(f"indexing failed: {repo.error or 'unknown error'}", "error")
        raise NotReady("this repository has not been indexed; POST /repositories/index", "idle")
    return Serving(repo, loader.load(repo.generation), pointers.now())
