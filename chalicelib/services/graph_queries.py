"""Use cases over a generation's code graph: symbols, neighbourhoods, waves, sorry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.domain.freshness import Freshness
from chalicelib.domain.graph import CodeGraph, Node
from chalicelib.domain.graph_analysis import Wave, blocked_by_incomplete, waves
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.proof_status import ProofStatus, declaration_statuses
from chalicelib.domain.symbol_match import match_score
from chalicelib.errors import InvalidRequest, NotFound
from chalicelib.services.check_reports import CheckedAt, CheckReports
from chalicelib.services.generations import GenerationLoader, PointerCache, Serving, serving

MAX_LIMIT = 200
MAX_DEPTH = 10
MAX_NAME = 500
DIRECTIONS = ("dependencies", "dependents")


@dataclass(frozen=True)
class SymbolMatches:
    repository_id: str
    matches: list[tuple[float, Node]]  # (score, definition), best first
    freshness: Freshness


@dataclass(frozen=True)
class Neighbourhood:
    repository_id: str
    node: Node
    external: list[str]  # the node's unresolved references
    direction: str
    depth: int
    nodes: list[tuple[Node, int]]  # (node, hops from `node`)
    freshness: Freshness
    statuses: Mapping[int, ProofStatus] = field(default_factory=dict)  # Lean declarations
    checked: CheckedAt | None = None  # the check the statuses come from


@dataclass(frozen=True)
class BuildWaves:
    repository_id: str
    waves: list[Wave]
    freshness: Freshness


@dataclass(frozen=True)
class Incomplete:
    repository_id: str
    incomplete: list[Node]  # declarations with `sorry`
    blocked: list[Node]  # everything that depends on one
    freshness: Freshness
    statuses: Mapping[int, ProofStatus] = field(default_factory=dict)  # Lean declarations
    checked: CheckedAt | None = None  # the check the statuses come from
    errors: list[Node] = field(default_factory=list)  # declarations a check found broken


class GraphQueries:
    def __init__(
        self,
        *,
        pointers: PointerCache,
        loader: GenerationLoader,
        caller: Caller,
        checks: CheckReports | None = None,
    ) -> None:
        self._pointers = pointers
        self._loader = loader
        self._caller = caller
        self._checks = checks

    def _statuses(
        self, serve: Serving, graph: CodeGraph
    ) -> tuple[dict[int, ProofStatus], CheckedAt | None]:
        """Lean declarations' checked status at the served commit (domain/proof_status.py)."""
        if not any(n.path.endswith(".lean") for n in graph.symbols()):
            return {}, None
        gen = serve.loaded.generation
        checked = self._checks.latest(serve.repository.id, gen.sha) if self._checks else None
        return declaration_statuses(graph, checked.files if checked else None), checked

    def _graph(self, repository_id: str) -> tuple[Serving, CodeGraph]:
        rid = validate_repository_id(repository_id)
        serve = serving(self._pointers, self._loader, rid, self._caller)
        if serve.loaded.graph is None:
            raise NotFound("this generation has no graph; re-index with force to build one")
        return serve, serve.loaded.graph

    def symbols(
        self, repository_id: str, query: str, kind: str | None, limit: int
    ) -> SymbolMatches:
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
        return SymbolMatches(repository_id, ranked[:limit], serve.freshness())

    def node(self, repository_id: str, name: str, direction: str, depth: int) -> Neighbourhood:
        if direction not in DIRECTIONS:
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
        around = list(graph.neighbourhood(start.id, direction, depth))
        external = list(graph.external.get(start.id, []))
        fresh = serve.freshness()
        statuses, checked = self._statuses(serve, graph)
        return Neighbourhood(
            repository_id, start, external, direction, depth, around, fresh, statuses, checked
        )

    def waves(self, repository_id: str) -> BuildWaves:
        serve, graph = self._graph(repository_id)
        return BuildWaves(repository_id, waves(graph), serve.freshness())

    def sorry(self, repository_id: str) -> Incomplete:
        serve, graph = self._graph(repository_id)
        incomplete, blocked = blocked_by_incomplete(graph)
        statuses, checked = self._statuses(serve, graph)
        errors = [n for n in graph.symbols() if statuses.get(n.id) == "error"]
        return Incomplete(
            repository_id, incomplete, blocked, serve.freshness(), statuses, checked, errors
        )
