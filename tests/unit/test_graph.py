"""The code graph: resolution rules, neighbourhoods, waves with cycles, the sorry blocked set."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.domain.graph import CodeGraph, GraphFile, Node
from chalicelib.domain.graph_analysis import blocked_by_incomplete, waves
from chalicelib.domain.import_paths import import_candidates
from chalicelib.domain.models import Reference, Symbol


def sym(q: str, kind: str = "theorem", line: int = 1, incomplete: bool = False) -> Symbol:
    return Symbol(q.rsplit(".", 1)[-1], q, kind, line, line + 1, incomplete=incomplete)


def uses(
    source: str, *names: str, scopes: tuple[str, ...] = ("",), role: str = "proof"
) -> list[Reference]:
    return [Reference(n, "name", 1, source, scopes, role) for n in names]


def lean_project() -> list[GraphFile]:
    basic = GraphFile(
        "Basic.lean",
        "lean",
        [sym("A.base"), sym("A.helper", incomplete=True), sym("A.B.inner")],
        [
            *uses("A.helper", "base", scopes=("A", "")),
            *uses("A.B.inner", "helper", "Nat.succ", scopes=("A.B", "A", "")),
        ],
    )
    main = GraphFile(
        "Main.lean",
        "lean",
        [sym("top"), sym("other"), sym("loop1"), sym("loop2")],
        [
            *uses("top", "B.inner", scopes=("", "A")),  # via `open A`
            *uses("other", "base", scopes=("",)),  # not opened: external
            *uses("loop1", "loop2"),
            *uses("loop2", "loop1"),
            Reference("Basic", "import", 1, None, (), None),
        ],
    )
    return [basic, main]


def names(nodes: Iterable[Node]) -> list[str]:
    return [n.name for n in nodes]


def test_scoped_names_resolve_through_namespaces_and_opens() -> None:
    g = CodeGraph.build(lean_project())
    edges = {(g.nodes[e.source].name, g.nodes[e.target].name) for e in g.edges}
    assert ("A.helper", "A.base") in edges
    assert ("A.B.inner", "A.helper") in edges
    assert ("top", "A.B.inner") in edges
    assert ("Main.lean", "Basic.lean") in edges  # the import, file to file
    other = g.find("other")[0]
    assert g.external[other.id] == ["base"]
    inner = g.find("A.B.inner")[0]
    assert g.external[inner.id] == ["Nat.succ"]


def test_neighbourhoods_in_both_directions() -> None:
    g = CodeGraph.build(lean_project())
    top = g.find("top")[0]
    deps = [(n.name, d) for n, d in g.neighbourhood(top.id, "dependencies", 3)]
    assert deps == [("A.B.inner", 1), ("A.helper", 2), ("A.base", 3)]
    base = g.find("A.base")[0]
    assert [n.name for n, _ in g.neighbourhood(base.id, "dependents", 1)] == ["A.helper"]


def test_waves_put_dependencies_first_and_report_cycles() -> None:
    g = CodeGraph.build(lean_project())
    result = waves(g)
    assert names(result[0].nodes) == ["A.base", "other"]
    assert [names(c) for c in result[0].cycles] == [["loop1", "loop2"]]
    assert names(result[1].nodes) == ["A.helper"]
    assert names(result[2].nodes) == ["A.B.inner"]
    assert names(result[3].nodes) == ["top"]


def test_sorry_blocks_everything_that_depends_on_it() -> None:
    incomplete, blocked = blocked_by_incomplete(CodeGraph.build(lean_project()))
    assert names(incomplete) == ["A.helper"]
    assert names(blocked) == ["A.B.inner", "top"]


def test_plain_names_resolve_same_file_first_then_unique() -> None:
    a = GraphFile(
        "a.py",
        "python",
        [sym("parse", "function"), sym("run", "function", 5)],
        [Reference("parse", "call", 6, "run"), Reference("util.fmt", "call", 7, "run")],
    )
    b = GraphFile(
        "b.py",
        "python",
        [sym("parse", "function"), sym("fmt", "function", 3)],
        [Reference("a", "import", 1, None), Reference("parse", "call", 4, "fmt")],
    )
    g = CodeGraph.build([a, b])
    edges = {
        (
            g.nodes[e.source].path,
            g.nodes[e.source].name,
            g.nodes[e.target].path,
            g.nodes[e.target].name,
        )
        for e in g.edges
    }
    assert ("a.py", "run", "a.py", "parse") in edges  # same file wins
    assert ("a.py", "run", "b.py", "fmt") in edges  # the only `fmt`
    assert ("b.py", "fmt", "b.py", "parse") in edges
    assert ("b.py", "b.py", "a.py", "a.py") in edges  # import a -> a.py


def test_ambiguous_names_stay_external() -> None:
    files = [GraphFile(f"{n}.py", "python", [sym("go", "function")], []) for n in "xy"]
    files.append(
        GraphFile("z.py", "python", [sym("main", "function")], [Reference("go", "call", 2, "main")])
    )
    g = CodeGraph.build(files)
    assert not g.edges and g.external[g.find("main")[0].id] == ["go"]


def test_configuration_keys_never_take_a_code_name() -> None:
    tasks = GraphFile("tasks.py", "python", [sym("Tasks.build", "method")], [])
    main = GraphFile(
        "main.py", "python", [sym("main", "function")], [Reference("build", "call", 2, "main")]
    )
    config = GraphFile("package.json", "json", [sym("scripts.build", "key")], [])
    g = CodeGraph.build([config, tasks, main])
    (edge,) = g.edges
    assert (g.nodes[edge.source].name, g.nodes[edge.target].name) == ("main", "Tasks.build")
    assert g.nodes[edge.target].path == "tasks.py"
    assert "scripts.build" in names(g.nodes)  # the key is a node, only never a target


def test_import_candidates_per_language() -> None:
    assert import_candidates("pkg/mod.py", "python", ".util")[0] == "pkg/util.py"
    assert import_candidates("pkg/sub/mod.py", "python", "..core")[0] == "pkg/core.py"
    assert "src/lib/util.ts" in import_candidates("src/app/main.ts", "typescript", "../lib/util")
    assert import_candidates("src/app.js", "javascript", "react") == []
    assert import_candidates("src/x.c", "c", '"util.h"')[0] == "src/util.h"
    assert import_candidates("Main.lean", "lean", "Mathlib.Algebra") == ["Mathlib/Algebra.lean"]
    assert import_candidates("a.py", "python", "...escape")[0].startswith("..") is False


def test_graph_round_trips_and_rejects_corrupt_bytes() -> None:
    import pytest

    from chalicelib.domain.codecs import decode_graph, encode_graph

    g = CodeGraph.build(lean_project())
    back = decode_graph(encode_graph(g))
    assert back.nodes == g.nodes and back.edges == g.edges and back.external == g.external
    with pytest.raises(ValueError, match="corrupt"):
        decode_graph(b"junk")


def test_files_shards_round_trip_into_the_same_graph() -> None:
    import pytest

    from chalicelib.domain.codecs import decode_graph_files, encode_graph_files

    files = lean_project()
    back = decode_graph_files(encode_graph_files(files))
    assert back == [
        GraphFile(f.path, f.language, tuple(f.symbols), tuple(f.references)) for f in files
    ]
    g, h = CodeGraph.build(files), CodeGraph.build(reversed(back))
    assert (h.nodes, h.edges, h.external) == (g.nodes, g.edges, g.external)
    with pytest.raises(ValueError, match="corrupt files shard"):
        decode_graph_files(b"junk")


def test_symbol_matching_prefers_exact_then_prefix_then_fuzzy() -> None:
    from chalicelib.domain.symbol_match import match_score

    scores = {
        name: match_score("parse", name, f"pkg.{name}")
        for name in ("parse", "parse_config", "reparse", "p_a_r_s_e", "unrelated")
    }
    assert scores["parse"] > scores["parse_config"] > scores["reparse"] > scores["p_a_r_s_e"]
    assert scores["unrelated"] == 0
    assert match_score("pkg.parse", "parse", "pkg.parse") == 95


def test_definitions_by_path_are_the_graph_nodes_without_resolution() -> None:
    from chalicelib.domain.graph import definitions_by_path

    python = [
        GraphFile(
            "pkg/a.py",
            "python",
            [sym("pkg.a.parse", "function"), sym("pkg.a.Runner", "class", 4)],
            [Reference("parse", "call", 6, "pkg.a.Runner")],
        ),
        GraphFile("pkg/empty.py", "python", [], [Reference("os", "import", 1, None)]),
        GraphFile(
            "Doc.lean",
            "lean",
            [sym("example@3", "example", 3), sym("Doc.lemma", line=7, incomplete=True)],
            [],
        ),
    ]
    files = [*lean_project(), *python]
    graph = CodeGraph.build(files)
    view = definitions_by_path(reversed(files))
    assert view == graph.by_path
    assert list(view) == list(graph.by_path)  # paths in the graph's order, too
    assert "pkg/empty.py" not in view and names(view["Doc.lean"]) == ["Doc.lemma"]
