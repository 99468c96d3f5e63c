"""Analyses over the declaration graph: strongly connected components, build waves, and
what an incomplete (`sorry`) declaration blocks. Files are not part of the declaration graph.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from chalicelib.domain.graph import CodeGraph, Node


def _declaration_edges(graph: CodeGraph) -> dict[int, set[int]]:
    """symbol -> the symbols it uses."""
    deps: dict[int, set[int]] = defaultdict(set)
    for e in graph.edges:
        if graph.nodes[e.source].kind != "file" and graph.nodes[e.target].kind != "file":
            deps[e.source].add(e.target)
    return deps


def strongly_connected(nodes: list[int], deps: dict[int, set[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative (no recursion limit); components in reverse topological
    order: every component comes after the components it depends on."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(deps.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    components.append(_pop_component(node, stack, on_stack))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(deps.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def _pop_component(root: int, stack: list[int], on_stack: set[int]) -> list[int]:
    component = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == root:
            return sorted(component)


@dataclass(frozen=True)
class Wave:
    level: int
    nodes: list[Node]
    cycles: list[list[Node]]


def waves(graph: CodeGraph) -> list[Wave]:
    """Topological levels: everything in a wave depends only on earlier waves. A cycle is
    reported as one strongly connected component placed at its level."""
    deps = _declaration_edges(graph)
    symbols = [n.id for n in graph.symbols()]
    components = strongly_connected(symbols, deps)
    owner = {m: i for i, comp in enumerate(components) for m in comp}
    level: dict[int, int] = {}
    for i, comp in enumerate(components):  # dependencies come first in Tarjan's order
        below = [level[owner[d]] for m in comp for d in deps.get(m, ()) if owner[d] != i]
        level[i] = 1 + max(below, default=-1)
    grouped: dict[int, list[int]] = defaultdict(list)
    for i in range(len(components)):
        grouped[level[i]].append(i)
    out = []
    for lvl in sorted(grouped):
        comps = [components[i] for i in grouped[lvl]]
        singles = sorted(m for c in comps if len(c) == 1 and not _self_loop(c[0], deps) for m in c)
        cycles = [c for c in comps if len(c) > 1 or _self_loop(c[0], deps)]
        out.append(
            Wave(
                lvl,
                [graph.nodes[m] for m in singles],
                [[graph.nodes[m] for m in c] for c in sorted(cycles)],
            )
        )
    return out


def _self_loop(node: int, deps: dict[int, set[int]]) -> bool:
    return node in deps.get(node, ())


def blocked_by_incomplete(graph: CodeGraph) -> tuple[list[Node], list[Node]]:
    """(declarations containing sorry, declarations that depend on one transitively)."""
    users: dict[int, set[int]] = defaultdict(set)
    for src, targets in _declaration_edges(graph).items():
        for t in targets:
            users[t].add(src)
    incomplete = [n.id for n in graph.symbols() if n.incomplete]
    seen = set(incomplete)
    frontier = list(incomplete)
    while frontier:
        nxt = []
        for nid in frontier:
            for user in users.get(nid, ()):
                if user not in seen:
                    seen.add(user)
                    nxt.append(user)
        frontier = nxt
    blocked = sorted(seen - set(incomplete))
    return [graph.nodes[i] for i in sorted(incomplete)], [graph.nodes[i] for i in blocked]
