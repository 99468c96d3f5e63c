"""Hybrid weights compared offline on dumped file signals: the descriptive set's tuning two
thirds and held-out third (bench/descriptive_bench.py --dump-signals) and, when given, the
commit-message set (bench/retrieval_bench.py --dump-signals). No index is built.

    .venv/bin/python bench/weights_compare.py --descriptive D.json [--eval E.json]
        [--grid "semantic=0.5,1,1.5,2;symbol=0.25,0.5"] [--out bench/results/weights_compare.json]

Each grid point replaces those fields of the default weights (chalicelib/domain/hybrid.py)
and re-ranks every dumped query with `fuse`, exactly as the retriever ranks files (the
weights of the query's kind, `Weights.for_query`), with the files' roles judged by this
checkout's path_roles.py, so a change of roles is measured without re-indexing too. Printed
per point: descriptive NDCG@10 on the tuning and held-out parts, symbol-category R@1, and
the eval set's pooled MRR@10. Choose on the tuning part and the eval set; read the held-out
part only to confirm. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _env import ROOT
from descriptive_bench import ndcg
from retrieval_bench import score_mode

from chalicelib.domain.hybrid import DEFAULT_WEIGHTS, Weights, fuse, ranked
from chalicelib.domain.path_roles import asked_roles, demoted, path_role

EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "bench" / "results" / "weights_compare.json"


def ranking(q: dict[str, Any], weights: Weights, query: str) -> list[str]:
    """The files as the retriever ranks them for `query` (its kind chooses the weights; the
    path roles of this checkout say which files rank after the code)."""
    signals = {n: np.array(v, dtype=float) for n, v in q["signals"].items()}
    down = demoted([path_role(p) for p in q["paths"]], asked_roles(query))
    order = ranked(fuse(signals, down, weights.for_query(query)).scores, 10)
    return [q["paths"][i] for i in order]


def descriptive(dump: dict[str, Any], weights: Weights) -> dict[str, float]:
    parts: dict[str, list[float]] = {"tuning": [], "held_out": [], "symbol_r1": []}
    for q in dump["queries"]:
        row = dump["rows"][q["key"]]
        paths = ranking(q, weights, row["query"])
        parts["held_out" if row["held_out"] else "tuning"].append(ndcg(paths, row["targets"]))
        if row["category"] == "symbol":
            parts["symbol_r1"].append(float(bool(paths) and paths[0] in row["targets"]))
    return {k: round(statistics.fmean(v), 4) for k, v in parts.items() if v}


def commit_messages(ev: Any, dump: dict[str, Any], weights: Weights) -> float:
    rows = dump["rows"]
    paths = {q["key"]: ranking(q, weights, rows[q["key"]]["query"]) for q in dump["queries"]}
    return round(float(score_mode(ev, dump["rows"], paths)["ALL (pooled)"]["MRR@10"]), 4)


def grid(spec: str) -> list[Weights]:
    axes = []
    for part in filter(None, spec.split(";")):
        name, values = part.split("=")
        axes.append([(name.strip(), float(v)) for v in values.split(",")])
    return [replace(DEFAULT_WEIGHTS, **dict(point)) for point in itertools.product(*axes)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--descriptive", required=True)
    parser.add_argument("--eval", default="")
    parser.add_argument("--grid", default="prose_semantic=1,1.5,2;prose_symbol=0,0.5,1")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    described = json.loads(Path(args.descriptive).read_text())
    evaluated = json.loads(Path(args.eval).read_text()) if args.eval else None
    ev = None
    if evaluated is not None:
        sys.path.insert(0, str(EVAL))
        import localization_eval

        ev = localization_eval
    rows = []
    for weights in [DEFAULT_WEIGHTS, *grid(args.grid)]:
        row: dict[str, Any] = {"weights": weights.__dict__, **descriptive(described, weights)}
        if evaluated is not None:
            row["eval_mrr"] = commit_messages(ev, evaluated, weights)
        rows.append(row)
        shown = {k: v for k, v in weights.__dict__.items() if k != "demote"}
        print(json.dumps(shown), {k: v for k, v in row.items() if k != "weights"}, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
