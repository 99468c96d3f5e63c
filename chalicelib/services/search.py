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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.validation import reject_unknown_fields, required_text
from chalicelib.errors import InvalidRequest, NotReady
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
MAX_QUERY = 1000
MAX_SCOPE = 50  # repositories per request
MODES = ("hybrid", "lexical", "semantic", "symbol")
_FIELDS = {"repositoryId", "repositoryIds", "owner", "query", "k", "mode"}
_OWNER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class SearchRequest:
    repository_ids: tuple[str, ...]  # empty with `owner`
    owner: str | None
    query: str
    k: int
    mode: str

    @property
    def single(self) -> bool:
        return self.owner is None and len(self.repository_ids) == 1


def _scope(body: Mapping[str, object]) -> tuple[tuple[str, ...], str | None]:
    given = [f for f in ("repositoryId", "repositoryIds", "owner") if f in body]
    if len(given) != 1:
        raise InvalidRequest("give exactly one scope: repositoryId, repositoryIds or owner")
    if given[0] == "repositoryId":
        return (validate_repository_id(body["repositoryId"]),), None
    if given[0] == "owner":
        owner = body["owner"]
        if not isinstance(owner, str) or not owner or not set(owner) <= _OWNER_CHARS:
            raise InvalidRequest("owner must be a GitHub user or organisation name")
        return (), owner
    ids = body["repositoryIds"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_SCOPE:
        raise InvalidRequest(f"repositoryIds must be a list of 1 to {MAX_SCOPE} repository ids")
    return tuple(dict.fromkeys(validate_repository_id(i) for i in ids)), None


def parse_search_request(body: Mapping[str, object]) -> SearchRequest:
    reject_unknown_fields(body, _FIELDS)
    ids, owner = _scope(body)
    query = required_text(body, "query", MAX_QUERY)
    k = body.get("k", 10)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be an integer from 1 to {MAX_K}")
    mode = body.get("mode", "hybrid")
    if mode not in MODES:
        raise InvalidRequest(f"mode must be one of {', '.join(MODES)}")
    return SearchRequest(ids, owner, query, k, str(mode))


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

    def search(self, body: Mapping[str, object]) -> dict[str, object]:
        req = parse_search_request(body)
        if req.single:
            rid = req.repository_ids[0]
            serve = serving(self._pointers, self._loader, rid, self._caller)
            hits = [_hit(rid, p) for p in self.passages(serve.loaded, req.query, req.k, req.mode)]
            head = {"repositoryId": rid, "query": req.query, "mode": req.mode}
            return {**head, "hits": hits, **serve.freshness()}
        return self._search_many(req)

    def passages(self, loaded: LoadedGeneration, query: str, k: int, mode: str) -> list[Passage]:
        r = self._retriever
        find = {"hybrid": r.hybrid, "lexical": r.lexical, "semantic": r.semantic}.get(mode)
        return (find or r.symbol)(loaded, query, k)

    def _search_many(self, req: SearchRequest) -> dict[str, object]:
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
                unavailable.append(
                    {"repositoryId": rid, "status": exc.status, "message": exc.message}
                )
        hits: list[tuple[float, int, dict[str, object]]] = []
        if req.mode == "hybrid":  # one ranking over every file in scope
            loaded = [serve.loaded for _, serve in served]
            for g, p in self._retriever.hybrid_many(loaded, req.query, req.k):
                hits.append((p.score, len(hits), _hit(served[g][0], p)))
        else:  # BM25, cosine and name-match scores compare across repositories as they are
            for rid, serve in served:
                for p in self.passages(serve.loaded, req.query, req.k, req.mode):
                    hits.append((p.score, len(hits), _hit(rid, p)))
        hits.sort(key=lambda x: (-x[0], x[1]))
        answered = [{"repositoryId": rid, **serve.freshness()} for rid, serve in served]
        scope = {"owner": req.owner} if req.owner else {"repositoryIds": list(ids)}
        return {
            **scope,
            "query": req.query,
            "mode": req.mode,
            "hits": [h for _, _, h in hits[: req.k]],
            "repositories": answered,
            "unavailable": unavailable,
        }


def _hit(repository_id: str, p: Passage) -> dict[str, object]:
    return {
        "repositoryId": repository_id,
        "path": p.path,
        "lines": [p.start_line, p.end_line],
        "score": round(p.score, 4),
        "snippet": p.snippet,
        "language": p.language,
        **p.extra,
    }
