"""Does the code graph's neighbourhood of the strongest hits improve hybrid ranking? Offline,
on dumped file signals of both query sets, with the graph of each query's tree.

    .venv/bin/python bench/graph_compare.py --descriptive D.json [--eval E.json]
        [--mirror /work/.mirror] [--repos-root /work/eval-repos]

D comes from `bench/descriptive_bench.py --dump-signals D.json` (graphs of the pinned heads in
the fetched mirrors), E from `bench/retrieval_bench.py --dump-signals E.json` (graphs of each
query's parent commit in the cloned eval repositories). Every file of a dump's tree is parsed
with this checkout's parsers (cached per blob) and the graph built as the service builds it
(`CodeGraph.build`); a file's neighbours are the files its symbols or imports resolve into
("deps"), the files that use it ("users"), or both.

The step tried: fuse the signals as the retriever does, then each of the `top` best files
lifts its (not demoted) neighbours by `weight` times how far it stands above the file ranked
`top + 1`, the largest lift over hits. Printed per variant: the descriptive tuning and
held-out NDCG@10 and the commit-message MRR@10 per repository and pooled; also written to
bench/results/graph_compare.json. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pygit2
from _env import ROOT
from descriptive_bench import ndcg
from retrieval_bench import EVAL, score_mode

from chalicelib.domain.graph import CodeGraph, GraphFile
from chalicelib.domain.hybrid import DEFAULT_WEIGHTS, fuse, ranked
from chalicelib.domain.path_roles import asked_roles, demoted, path_role
from chalicelib.parsers import parse_blob

RESULTS = ROOT / "bench" / "results" / "graph_compare.json"
VARIANTS = [(mode, top, weight) for mode in ("deps", "users", "both")
            for top in (3, 5) for weight in (0.25, 0.5)]  # fmt: skip
Edges = dict[str, set[str]]


class Graphs:
    """File edges of a tree, parsing each blob once."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], GraphFile] = {}
        self._edges: dict[tuple[str, str], Edges] = {}

    def edges(self, repo: pygit2.Repository, commit: str, paths: Iterable[str]) -> Edges:
        key = (repo.path, commit)
        if key not in self._edges:
            tree = repo.revparse_single(commit).peel(pygit2.Tree)
            files = [self._file(tree, p) for p in paths if p in tree]
            graph = CodeGraph.build(files)
            out: Edges = {}
            for e in graph.edges:
                source, target = graph.nodes[e.source].path, graph.nodes[e.target].path
                if source != target:
                    out.setdefault(source, set()).add(target)
            self._edges[key] = out
        return self._edges[key]

    def _file(self, tree: pygit2.Tree, path: str) -> GraphFile:
        blob = tree[path]
        assert isinstance(blob, pygit2.Blob)
        key = (str(blob.id), path.rsplit("/", 1)[-1])
        if key not in self._parsed:
            artifact = parse_blob(str(blob.id), path, blob.data)
            self._parsed[key] = GraphFile(
                path, artifact.language, artifact.symbols, artifact.references
            )
        return self._parsed[key]


def ranking(
    q: dict[str, Any], query: str, edges: Edges, variant: tuple[str, int, float] | None
) -> list[str]:
    paths = q["paths"]
    signals = {n: np.array(v, dtype=float) for n, v in q["signals"].items()}
    down = demoted([path_role(p) for p in paths], asked_roles(query))
    scores = fuse(signals, down, DEFAULT_WEIGHTS.for_query(query)).scores
    if variant is not None:
        mode, top, weight = variant
        index = {p: i for i, p in enumerate(paths)}
        users: Edges = {}
        for source, targets in edges.items():
            for t in targets:
                users.setdefault(t, set()).add(source)
        order = ranked(scores, top + 1)
        floor = scores[order[-1]]
        lift = np.zeros(len(paths))
        for hit in order[:-1]:
            near = set()
            if mode in ("deps", "both"):
                near |= edges.get(paths[hit], set())
            if mode in ("users", "both"):
                near |= users.get(paths[hit], set())
            for f in near:
                j = index.get(f)
                if j is not None and not down[j]:
                    lift[j] = max(lift[j], weight * (scores[hit] - floor))
        scores = scores + lift
    return [paths[i] for i in ranked(scores, 10)]


def descriptive(dump: dict[str, Any], edges: Callable[[dict[str, Any], dict[str, Any]], Edges],
                variant: tuple[str, int, float] | None) -> dict[str, float]:  # fmt: skip
    parts: dict[str, list[float]] = {"tuning": [], "held_out": []}
    for q in dump["queries"]:
        row = dump["rows"][q["key"]]
        paths = ranking(q, row["query"], edges(q, row), variant)
        parts["held_out" if row["held_out"] else "tuning"].append(ndcg(paths, row["targets"]))
    return {k: round(statistics.fmean(v), 4) for k, v in parts.items() if v}


def commit_messages(ev: Any, dump: dict[str, Any],
                    edges: Callable[[dict[str, Any], dict[str, Any]], Edges],
                    variant: tuple[str, int, float] | None) -> dict[str, float]:  # fmt: skip
    rows = dump["rows"]
    paths = {
        q["key"]: ranking(q, rows[q["key"]]["query"], edges(q, rows[q["key"]]), variant)
        for q in dump["queries"]
    }
    return {k: round(float(v["MRR@10"]), 4) for k, v in score_mode(ev, rows, paths).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--descriptive", required=True)
    parser.add_argument("--eval", default="")
    parser.add_argument("--mirror", default="/work/.mirror")
    parser.add_argument("--repos-root", default="/work/eval-repos")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    graphs = Graphs()
    listed = json.loads((ROOT / "bench" / "descriptive" / "repos.json").read_text())["repos"]
    repos = {r["name"]: r for r in listed}
    opened: dict[str, pygit2.Repository] = {}

    def mirror(q: dict[str, Any], row: dict[str, Any]) -> Edges:
        r = repos[row["name"]]
        path = f"{args.mirror}/{r['github'].replace('/', '+')}/repo"
        repo = opened.setdefault(path, pygit2.Repository(path))
        return graphs.edges(repo, r["head"], q["paths"])

    def clone(q: dict[str, Any], row: dict[str, Any]) -> Edges:
        path = f"{args.repos_root}/{row['name']}"
        repo = opened.setdefault(path, pygit2.Repository(path))
        return graphs.edges(repo, row["parent"], q["paths"])

    described = json.loads(Path(args.descriptive).read_text())
    commits = json.loads(Path(args.eval).read_text()) if args.eval else None
    ev = None
    if commits is not None:
        sys.path.insert(0, str(EVAL))
        import localization_eval

        ev = localization_eval
    rows = []
    for variant in [None, *VARIANTS]:
        result: dict[str, Any] = {"variant": variant, **descriptive(described, mirror, variant)}
        if commits is not None:
            result["eval_mrr"] = commit_messages(ev, commits, clone, variant)
        rows.append(result)
        print(json.dumps(result), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
