"""Fusion methods compared on the signals `bench/retrieval_bench.py --dump-signals` wrote:
Strata's standardised weighted sum (domain/hybrid.py) against reciprocal rank fusion of the
same signals with the same demotion, scored by ../shared/eval's scorer. No index is built.

    .venv/bin/python bench/fusion_compare.py DUMP.json [DUMP.json ...]
                                             [--out bench/results/fusion_compare.json]

RRF gives each file sum(w / (k + rank)) over the signals in which it scores (semantic always
ranks every file with vectors); k = 60 is the usual constant, k = 10 favours the top ranks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _env import ROOT
from retrieval_bench import score_mode

from chalicelib.domain.hybrid import DEFAULT_WEIGHTS, DEMOTION, fuse, ranked

EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "bench" / "results" / "fusion_compare.json"


def rrf(signals: dict[str, np.ndarray], demoted: list[bool], k: int) -> np.ndarray:
    total = np.zeros(len(demoted))
    for name, values in signals.items():
        weight = DEFAULT_WEIGHTS.of(name)
        finite = np.where(np.isfinite(values), values, -np.inf)
        rank = np.empty(len(values))
        rank[np.argsort(-finite, kind="stable")] = np.arange(1, len(values) + 1)
        scored = np.isfinite(finite) if name == "semantic" else finite > 0
        total += np.where(scored, weight / (k + rank), 0.0)
    return total - DEMOTION * np.asarray(demoted, dtype=float)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dumps", nargs="+")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(EVAL))
    import localization_eval as ev

    rows: dict[str, dict[str, Any]] = {}
    queries: list[dict[str, Any]] = []
    for dump in args.dumps:
        body = json.loads(Path(dump).read_text())
        rows.update(body["rows"])
        queries += body["queries"]
    methods = {
        "z-scores, weighted (Strata)": lambda s, d: fuse(s, d, DEFAULT_WEIGHTS).scores,
        "RRF k=60": lambda s, d: rrf(s, d, 60),
        "RRF k=10": lambda s, d: rrf(s, d, 10),
    }
    report: dict[str, Any] = {"queries": len(queries), "pooled": {}}
    for label, method in methods.items():
        ranked_paths = {}
        for q in queries:
            signals = {n: np.array(v, dtype=float) for n, v in q["signals"].items()}
            order = ranked(method(signals, q["demoted"]), 10)
            ranked_paths[q["key"]] = [q["paths"][i] for i in order]
        summary = score_mode(ev, rows, ranked_paths)
        report["pooled"][label] = summary["ALL (pooled)"]
        print(ev.table(summary, label))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
