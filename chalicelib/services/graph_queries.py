"""Use cases over a generation's code graph: symbols, neighbourhoods, waves, sorry."""

from __future__ import annotations

from chalicelib.domain.graph import CodeGraph, Node
from chalicelib.domain.graph_analysis import blocked_by_incomplete, waves
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.symbol_match import match_score
from chalicelib.errors import InvalidRequest, NotFound
from chalicelib.services.generations import GenerationLoader, PointerCache, Serving, serving

MAX_LIMIT = 200
MAX_DEPTH = 10
MAX_NAME = 500


def node_view(n: Node, **extra: object) -> dict[str, object]:
    return {
        "name": n.name,
        "kind": n.kind,
        "path": n.path,
        "lines": [n.start_line, n.end_line],
        **extra,
    }


class GraphQueries:
    def __init__(self, *, pointers: PointerCache, loader: GenerationLoader, caller: Caller) -> None:
        self._pointers = pointers
        self._loader = loader
        self._caller = caller

    def _graph(self, repository_id: str) -> tuple[Serving, CodeGraph]:
        rid = validate_repository_id(repository_id)
        serve = serving(self._pointers, self._loader, rid, self._caller)
        if serve.loaded.graph is None:
            raise NotFound("this generation has no graph; re-index with force to build one")
        return serve, serve.loaded.graph

    def symbols(
        self, repository_id: str, query: str, kind: str | None, limit: int
    ) -> dict[str, object]:
        if len(query) > MAX_NAME:
            raise InvalidRequest(f"q must be at most {MAX_NAME} characters")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
        serve, graph = self._graph(repository_id)
        scored = [
            (match_score(query, n.name.rsplit(".", 1)[-1], n.name), n)
            for n in graph.symbols()
            if kind is None or n.kind == kind
        ]
        ranked = sorted(
            (x for x in scored if x[0] > 0),
            key=lambda x: (-x[0], len(x[1].name), x[1].name, x[1].path),
        )
        hits = [node_view(n, score=score) for score, n in ranked[:limit]]
        return {"repositoryId": repository_id, "symbols": hits, **serve.freshness()}

    def node(self, repository_id: str, name: str, direction: str, depth: int) -> dict[str, object]:
        if direction not in ("dependencies", "dependents"):
            raise InvalidRequest("direction must be 'dependencies' or 'dependents'")
        if not 1 <= depth <= MAX_DEPTH:
            raise InvalidRequest(f"depth must be an integer from 1 to {MAX_DEPTH}")
        if not name or len(name) > MAX_NAME:
            raise InvalidRequest("a node name is required")
        serve, graph = self._graph(repository_id)
        found = graph.find(name)
        if not found:
            raise NotFound(f"no symbol or file named {name!r} in this repository")
        start = found[0]
        around = graph.neighbourhood(start.id, direction, depth)
        return {
            "repositoryId": repository_id,
            "node": node_view(start, external=graph.external.get(start.id, [])),
            "direction": direction,
            "depth": depth,
            "nodes": [node_view(n, distance=d) for n, d in around],
            **serve.freshness(),
        }

    def waves(self, repository_id: str) -> dict[str, object]:
        serve, graph = self._graph(repository_id)
        return {
            "repositoryId": repository_id,
            "waves": [
                {
                    "level": w.level,
                    "nodes": [node_view(n) for n in w.nodes],
                    "cycles": [[node_view(n) for n in c] for c in w.cycles],
                }
                for w in waves(graph)
            ],
            **serve.freshness(),
        }

    def sorry(self, repository_id: str) -> dict[str, object]:
        serve, graph = self._graph(repository_id)
        incomplete, blocked = blocked_by_incomplete(graph)
        return {
            "repositoryId": repository_id,
            "incomplete": [node_view(n) for n in incomplete],
            "blocked": [node_view(n) for n in blocked],
            **serve.freshness(),
        }
