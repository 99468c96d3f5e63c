"""The repository's code graph, built per generation from per-blob symbols and references.

Nodes are files and the symbols defined in them; edges point from a user to what it uses
(so a dependency's wave comes first). References resolve by these rules, in order:
- with scopes (Lean): the first `scope.name` that is declared (namespaces, then opens);
- a symbol of that name (or its last segment) in the same file;
- the only symbol with exactly that qualified name in the repository;
- the only symbol of that (last-segment) name in the repository.
Anything else stays external (kept per source, never an edge). Imports resolve to files.
Configuration keys (kind `key`: `scripts.build`) are nodes but never targets: code does not
call them, and their names (`build`, `test`) would make code names ambiguous.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from itertools import count

from chalicelib.domain.import_paths import import_candidates
from chalicelib.domain.models import Reference, Symbol
from chalicelib.domain.scoped_names import resolve as resolve_name

UNLINKED_KINDS = frozenset({"key"})


@dataclass(frozen=True)
class GraphFile:
    path: str
    language: str
    symbols: Sequence[Symbol]
    references: Sequence[Reference]


@dataclass(frozen=True)
class Node:
    id: int
    name: str
    kind: str
    path: str
    start_line: int
    end_line: int
    incomplete: bool = False


@dataclass(frozen=True)
class Edge:
    source: int
    target: int
    kind: str
    role: str | None = None


@dataclass
class _Index:
    """Name tables for resolution, built once per graph."""

    qualified: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_name: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    files: dict[str, int] = field(default_factory=dict)


def resolve_scoped(
    name: str, scopes: Sequence[str], declared: Mapping[str, Sequence[int]]
) -> int | None:
    """Lean's lookup (namespaces, then opens, then a declared dotted prefix) over the names
    declared exactly once."""
    unique = _UniqueNames(declared)
    found = resolve_name(name, scopes, unique)
    return declared[found][0] if found is not None else None


class _UniqueNames(Set[str]):
    """The qualified names declared exactly once, as a set view (no copy)."""

    def __init__(self, declared: Mapping[str, Sequence[int]]) -> None:
        self._declared = declared

    def __contains__(self, name: object) -> bool:
        ids = self._declared.get(name) if isinstance(name, str) else None
        return bool(ids) and len(ids) == 1  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        return (n for n, ids in self._declared.items() if len(ids) == 1)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _only(ids: Sequence[int] | None) -> int | None:
    return ids[0] if ids and len(ids) == 1 else None


def _ordered(files: Iterable[GraphFile]) -> list[GraphFile]:
    return sorted(files, key=lambda f: f.path)


def _numbered(files: Sequence[GraphFile]) -> Iterator[tuple[Node, Symbol | None]]:
    """Each file's node, then the nodes of the symbols it defines (examples left out),
    numbered in order: the node ids of the graph."""
    ids = count()
    for f in files:
        yield Node(next(ids), f.path, "file", f.path, 1, 1), None
        for s in f.symbols:
            if s.kind == "example" or s.qualified_name.startswith("example@"):
                continue
            span = (s.start_line, s.end_line)
            yield Node(next(ids), s.qualified_name, s.kind, f.path, *span, s.incomplete), s


def definitions_by_path(files: Iterable[GraphFile]) -> dict[str, list[Node]]:
    """Each file's definitions as the graph's nodes (same ids, names, kinds and spans as
    `CodeGraph.build(files).by_path`) without resolving references: all search needs."""
    by_path: dict[str, list[Node]] = {}
    for node, _ in _numbered(_ordered(files)):
        if node.kind != "file":
            by_path.setdefault(node.path, []).append(node)
    return by_path


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.edges: set[Edge] = set()
        self.external: dict[int, set[str]] = defaultdict(set)
        self.index = _Index()
        self.local: dict[tuple[str, str], int] = {}

    def add_nodes(self, files: Sequence[GraphFile]) -> None:
        for node, symbol in _numbered(files):
            self.nodes.append(node)
            if symbol is None:
                self.index.files[node.path] = node.id
                continue
            if symbol.kind in UNLINKED_KINDS:
                continue  # a node of its own, never the target a code name resolves to
            self.index.qualified[node.name].append(node.id)
            self.index.by_name[symbol.name].append(node.id)
            self.local.setdefault((node.path, symbol.name), node.id)

    def add_edges(self, files: Sequence[GraphFile]) -> None:
        for f in files:
            for r in f.references:
                source = self._source(f, r)
                target = self._resolve(f, r)
                if target is None:
                    self.external[source].add(r.name)
                elif target != source:
                    self.edges.add(Edge(source, target, r.kind, r.role))

    def _source(self, f: GraphFile, r: Reference) -> int:
        for sid in self.index.qualified.get(r.source or "", []) if r.source else []:
            if self.nodes[sid].path == f.path:
                return sid
        return self.index.files[f.path]

    def _resolve(self, f: GraphFile, r: Reference) -> int | None:
        if r.kind == "import":
            return self._resolve_import(f, r.name)
        if r.scopes:
            return resolve_scoped(r.name, r.scopes, self.index.qualified)
        last = r.name.rsplit(".", 1)[-1]
        same_file = self.local.get((f.path, r.name)) or self.local.get((f.path, last))
        if same_file is not None:
            return same_file
        exact = _only(self.index.qualified.get(r.name))
        return exact if exact is not None else _only(self.index.by_name.get(last))

    def _resolve_import(self, f: GraphFile, spec: str) -> int | None:
        for candidate in import_candidates(f.path, f.language, spec):
            fid = self.index.files.get(candidate)
            if fid is not None:
                return fid
        return None


class CodeGraph:
    def __init__(
        self, nodes: Sequence[Node], edges: Iterable[Edge], external: Mapping[int, Iterable[str]]
    ) -> None:
        self.nodes = list(nodes)
        self.edges = sorted(set(edges), key=lambda e: (e.source, e.target, e.kind, e.role or ""))
        self.external = {k: sorted(v) for k, v in external.items() if v}
        self.out: dict[int, list[Edge]] = defaultdict(list)
        self.into: dict[int, list[Edge]] = defaultdict(list)
        for e in self.edges:
            self.out[e.source].append(e)
            self.into[e.target].append(e)
        self.by_name: dict[str, list[int]] = defaultdict(list)
        self.by_path: dict[str, list[Node]] = defaultdict(list)
        for n in self.nodes:
            self.by_name[n.name].append(n.id)
            if n.kind != "file":
                self.by_path[n.path].append(n)

    @classmethod
    def build(cls, files: Iterable[GraphFile]) -> CodeGraph:
        ordered = _ordered(files)
        builder = _Builder()
        builder.add_nodes(ordered)
        builder.add_edges(ordered)
        return cls(builder.nodes, builder.edges, builder.external)

    def find(self, name: str) -> list[Node]:
        return [self.nodes[i] for i in self.by_name.get(name, [])]

    def symbols(self) -> list[Node]:
        return [n for n in self.nodes if n.kind != "file"]

    def neighbourhood(self, start: int, direction: str, depth: int) -> list[tuple[Node, int]]:
        """Nodes reachable from `start` along dependencies (or dependents), with distance."""
        step = self.out if direction == "dependencies" else self.into
        seen = {start: 0}
        frontier = [start]
        for distance in range(1, depth + 1):
            nxt = []
            for nid in frontier:
                for e in step.get(nid, []):
                    other = e.target if direction == "dependencies" else e.source
                    if other not in seen:
                        seen[other] = distance
                        nxt.append(other)
            frontier = nxt
        return [
            (self.nodes[n], d)
            for n, d in sorted(seen.items(), key=lambda x: (x[1], x[0]))
            if n != start
        ]
