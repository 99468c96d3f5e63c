"""Use case: ranked search over one repository, an owner's repositories, or a list of them.

Modes: `hybrid` (default; see retriever.py and domain/hybrid.py), `lexical`, `semantic`,
`symbol`. A scope holds only repositories the caller's tenant registered (every one for an
admin): any other answers as an unknown repository does (domain/tenancy.py). Every hit says
which repository it comes from. One repository (`repositoryId`) answers with that
repository's freshness at the top level and NotReady as chat does; a scope of several answers
from those that are ready, lists the others under `unavailable`, and merges hits by score
(hybrid scores are standardised per repository, so they compare).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.domain.freshness import Freshness
from chalicelib.domain.hybrid import Coverage, semantic_coverage
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.models import Repository, VectorState
from chalicelib.errors import Conflict, InvalidRequest, NotReady
from chalicelib.ports import RepoStore
from chalicelib.services.generations import (
    GenerationLoader,
    LoadedGeneration,
    PointerCache,
    Serving,
    serving,
)
from chalicelib.services.retriever import Passage, Retriever

MAX_K = 100
MAX_QUERY = 4000  # a pasted change request with its body (commit messages run to ~3,000)
MAX_SCOPE = 50  # repositories per request
MODES = ("hybrid", "lexical", "semantic", "symbol")
_OWNER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class SearchQuery:
    """What to find, and where: exactly one scope, `repository_ids` (one or several) or
    `owner` (every repository of a GitHub owner the caller may see)."""

    query: str
    repository_ids: tuple[str, ...] = ()
    owner: str | None = None
    k: int = 10
    mode: str = "hybrid"

    def __post_init__(self) -> None:
        if (self.owner is None) == (not self.repository_ids):
            raise InvalidRequest("give exactly one scope: repositoryId, repositoryIds or owner")
        if self.owner is not None and not set(self.owner) <= _OWNER_CHARS:
            raise InvalidRequest("owner must be a GitHub user or organisation name")
        if len(self.repository_ids) > MAX_SCOPE:
            raise InvalidRequest(f"repositoryIds must list 1 to {MAX_SCOPE} repository ids")
        ids = tuple(dict.fromkeys(validate_repository_id(i) for i in self.repository_ids))
        object.__setattr__(self, "repository_ids", ids)
        if not self.query.strip() or len(self.query) > MAX_QUERY:
            raise InvalidRequest(f"query must be non-empty text of at most {MAX_QUERY} characters")
        if not 1 <= self.k <= MAX_K:
            raise InvalidRequest(f"k must be an integer from 1 to {MAX_K}")
        if self.mode not in MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(MODES)}")

    @property
    def single(self) -> bool:
        return self.owner is None and len(self.repository_ids) == 1


@dataclass(frozen=True)
class Found:
    """A passage, and the repository it comes from."""

    repository_id: str
    passage: Passage


@dataclass(frozen=True)
class Unavailable:
    """A repository in scope that could not answer (indexing, idle or failed)."""

    repository_id: str
    status: str
    message: str


@dataclass(frozen=True)
class SearchResult:
    """Hits best first. `answered`: the freshness of each repository that answered (the
    one, for a single repository); `scope`: every repository id the query covered."""

    query: SearchQuery
    hits: list[Found]
    answered: dict[str, Freshness]
    scope: tuple[str, ...]
    unavailable: list[Unavailable] = field(default_factory=list)
    # Whether hybrid or semantic ranking used vectors for every file (complete), for some or
    # none yet with vectors being embedded (partial), or not at all (none; lexical, symbol).
    semantic: Coverage = "none"


class Searcher:
    def __init__(
        self,
        *,
        pointers: PointerCache,
        loader: GenerationLoader,
        retriever: Retriever,
        repos: RepoStore,
        caller: Caller,
    ) -> None:
        self._pointers = pointers
        self._loader = loader
        self._retriever = retriever
        self._repos = repos
        self._caller = caller

    def search(self, req: SearchQuery) -> SearchResult:
        if req.single:
            rid = req.repository_ids[0]
            serve = serving(self._pointers, self._loader, rid, self._caller)
            states = self._vector_states(req.mode, [serve])
            if req.mode == "semantic" and states == ["pending"]:
                raise Conflict(_embedding_message(serve.repository))
            found = self.passages(serve.loaded, req.query, req.k, req.mode)
            hits = [Found(rid, p) for p in found]
            coverage = semantic_coverage(states) if states else "none"
            return SearchResult(req, hits, {rid: serve.freshness()}, (rid,), semantic=coverage)
        return self._search_many(req)

    def _vector_states(self, mode: str, served: Sequence[Serving]) -> list[str]:
        """Each generation's semantic state for `mode` (none asked: empty): "vectors" when
        it has vectors of the query embedder's model, "pending" while they are embedded."""
        if mode not in ("hybrid", "semantic"):
            return []
        embedder = self._retriever.queries.embedder
        model = embedder.model_id if embedder is not None else None
        states = []
        for serve in served:
            m = serve.loaded.manifest
            if model is not None and m.embedding_model == model and "vectors" in m.segments:
                states.append("vectors")
            elif model is not None and serve.repository.vectors is VectorState.EMBEDDING:
                states.append("pending")
            else:
                states.append("none")
        return states

    def passages(self, loaded: LoadedGeneration, query: str, k: int, mode: str) -> list[Passage]:
        r = self._retriever
        find = {"hybrid": r.hybrid, "lexical": r.lexical, "semantic": r.semantic}.get(mode)
        return (find or r.symbol)(loaded, query, k)

    def _search_many(self, req: SearchQuery) -> SearchResult:
        ids: Sequence[str] = req.repository_ids
        if req.owner is not None:  # only the caller's tenant's (every one for an admin)
            tenant = None if self._caller.is_admin else self._caller.tenant
            owned = self._repos.list_owned(req.owner, tenant=tenant)
            ids = sorted(r.id for r in owned)[:MAX_SCOPE]
        served: list[tuple[str, Serving]] = []
        unavailable = []
        for rid in ids:
            try:
                served.append((rid, serving(self._pointers, self._loader, rid, self._caller)))
            except NotReady as exc:
                unavailable.append(Unavailable(rid, exc.status, exc.message))
        states = self._vector_states(req.mode, [serve for _, serve in served])
        if req.mode == "semantic" and "vectors" in states:  # those with vectors answer
            served = [sv for sv, state in zip(served, states, strict=True) if state == "vectors"]
        hits: list[tuple[float, int, Found]] = []
        if req.mode == "hybrid":  # one ranking over every file in scope
            loaded = [serve.loaded for _, serve in served]
            for g, p in self._retriever.hybrid_many(loaded, req.query, req.k):
                hits.append((p.score, len(hits), Found(served[g][0], p)))
        else:  # BM25, cosine and name-match scores compare across repositories as they are
            for rid, serve in served:
                for p in self.passages(serve.loaded, req.query, req.k, req.mode):
                    hits.append((p.score, len(hits), Found(rid, p)))
        hits.sort(key=lambda x: (-x[0], x[1]))
        answered = {rid: serve.freshness() for rid, serve in served}
        best = [h for _, _, h in hits[: req.k]]
        coverage = semantic_coverage(states) if states else "none"
        return SearchResult(req, best, answered, tuple(ids), unavailable, coverage)


def _embedding_message(repo: Repository) -> str:
    done = f" ({repo.files_embedded} of {repo.num_files} files)" if repo.num_files else ""
    return (
        f"the vectors of this commit are being embedded{done}; use mode hybrid or lexical "
        "meanwhile, or retry once the status shows vectors complete"
    )
