"""Each Lean declaration's checked status at a commit, from the declaration graph (`sorry`
detection by our parser) and the newest finished check of that commit. Pure.

- `error`: a check looked at its file and reported an error inside its lines;
- `sorry`: it uses `sorry` (or `admit`) itself;
- `blocked`: it depends, transitively, on a declaration that is `error` or `sorry`;
- `proved`: a check that proves (a `build` run with Lean's toolchain, lake) decided its file
  and none of the above holds;
- `unchecked`: anything else. A `syntax` check alone never proves a declaration: the
  structure is sound, but nothing has elaborated it.
Earlier rules win (an `error` that also uses `sorry` is `error`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.graph import CodeGraph, Node

ProofStatus = Literal["proved", "sorry", "blocked", "error", "unchecked"]


@dataclass(frozen=True)
class CheckedFiles:
    """What one finished check says about files: the ones it decided, their errors, and
    whether it proves (its level built the Lean files)."""

    decided: frozenset[str] = frozenset()
    errors: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    proves: bool = False


def checked_files(
    decided: Iterable[str], diagnostics: Iterable[Diagnostic], *, level: str
) -> CheckedFiles:
    """At the build level the only tool that decides a `.lean` file is lake (Lean's build,
    domain/build_units.py): a Lean file it decided was elaborated, so it proves."""
    lines: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for d in diagnostics:
        if d.severity == "error":
            lines[d.path].append((d.line, d.end_line))
    spans = {p: tuple(v) for p, v in lines.items()}
    return CheckedFiles(frozenset(decided), spans, proves=level == "build")


def is_lean_declaration(path: str, kind: str) -> bool:
    return path.endswith(".lean") and kind != "file"


def declaration_statuses(graph: CodeGraph, checked: CheckedFiles | None) -> dict[int, ProofStatus]:
    """Node id -> status for every Lean declaration of the graph."""
    nodes = [n for n in graph.symbols() if is_lean_declaration(n.path, n.kind)]
    checked = checked or CheckedFiles()
    status: dict[int, ProofStatus] = {}
    for n in nodes:
        if _has_error(n, checked):
            status[n.id] = "error"
        elif n.incomplete:
            status[n.id] = "sorry"
    reached = _users_of(graph, set(status))
    for n in nodes:
        if n.id in status:
            continue
        if n.id in reached:
            status[n.id] = "blocked"
        elif checked.proves and n.path in checked.decided:
            status[n.id] = "proved"
        else:
            status[n.id] = "unchecked"
    return status


def _has_error(n: Node, checked: CheckedFiles) -> bool:
    spans = checked.errors.get(n.path, ()) if n.path in checked.decided else ()
    return any(start <= n.end_line and end >= n.start_line for start, end in spans)


def _users_of(graph: CodeGraph, roots: set[int]) -> set[int]:
    """Every declaration that depends on one of `roots`, transitively (roots excluded)."""
    users: dict[int, set[int]] = defaultdict(set)
    for e in graph.edges:  # declarations only: a file's imports block nothing
        if graph.nodes[e.source].kind != "file" and graph.nodes[e.target].kind != "file":
            users[e.target].add(e.source)
    seen = set(roots)
    frontier = list(roots)
    while frontier:
        frontier = [u for nid in frontier for u in users.get(nid, ()) if u not in seen]
        seen.update(frontier)
    return seen - roots
