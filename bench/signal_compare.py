"""Are the ranking signals saturated? Offline, on dumped file signals of both query sets:
candidate signals added to the fusion, and a learned re-ranker over every signal.

    .venv/bin/python bench/signal_compare.py --descriptive D.json --eval E.json
        [--out bench/results/signal_compare.json]

D and E come from `bench/descriptive_bench.py --dump-signals D.json` and
`bench/retrieval_bench.py --dump-signals E.json`; both carry, beside the signals the
retriever fuses, the candidates of `retrieval_bench.candidate_signals` (a file's best chunk
BM25, the mean of its three most similar chunks, a soft maximum of its chunk similarities,
how well its definition names are described by the question's words, its chunk count).

Variants, each printed as descriptive NDCG@10 on the tuning and held-out parts, symbol R@1,
and commit-message MRR@10 pooled and per repository:

- `fusion`: the retriever's ranking (`fuse` with the weights of the query's kind);
- `+<candidate> <w>`: that, plus the candidate standardised as `fuse` standardises (code
  files among themselves) times w;
- `learned`: a logistic re-ranker of the fusion's `TOP` files, on every signal and candidate
  standardised, the same for prose queries only, each signal's reciprocal rank, the fused
  score and rank. Each repository's queries are ranked by a model trained on the other
  repositories only (leave one repository out, over both sets; the descriptive held-out
  third never trains), so every figure of this variant is out of sample.

Choose on the tuning part and the commit messages; the held-out third confirms. Results also
go to bench/results/signal_compare.json. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _env import ROOT
from descriptive_bench import ndcg, reciprocal_rank

from chalicelib.domain.hybrid import DEFAULT_WEIGHTS, fuse, names_code, standardise_within
from chalicelib.domain.lexical import Array
from chalicelib.domain.path_roles import asked_roles, demoted, path_role

RESULTS = ROOT / "bench" / "results" / "signal_compare.json"
TOP = 50
WEIGHTS = (0.25, 0.5)
EVAL_NAMES = ("flask", "starlette", "black", "ky", "pnt")


@dataclass(frozen=True)
class Query:
    """One dumped query: its row, files, demotions, every signal and candidate, and the
    fusion's scores."""

    row: dict[str, Any]
    paths: list[str]
    down: Array
    signals: dict[str, Array]
    fused: Array

    @property
    def descriptive(self) -> bool:
        return "held_out" in self.row

    @property
    def part(self) -> str:
        if self.descriptive:
            return "held_out" if self.row["held_out"] else "tuning"
        return str(self.row["name"])


def load(path: str) -> list[Query]:
    dump = json.loads(Path(path).read_text())
    queries = []
    for q in dump["queries"]:
        row = dump["rows"][q["key"]]
        values = {**q["signals"], **q.get("candidates", {})}
        signals = {n: np.array(v, dtype=np.float64) for n, v in values.items()}
        down = np.array(demoted([path_role(p) for p in q["paths"]], asked_roles(row["query"])))
        fusable = {n: signals[n] for n in q["signals"]}
        fused = fuse(fusable, down, DEFAULT_WEIGHTS.for_query(row["query"])).scores
        queries.append(Query(row, q["paths"], down, signals, fused))
    return queries


def standardised(q: Query, name: str) -> Array:
    """A signal as `fuse` standardises it (missing values add 0)."""
    v = q.signals.get(name)
    out = np.zeros(len(q.paths))
    if v is None:
        return out
    known = ~np.isnan(v)
    if known.any():
        out[known] = standardise_within(v[known], ~q.down[known])
    return out


def order(scores: Array) -> Array:
    return np.lexsort((np.arange(len(scores)), -scores))


def metrics(q: Query, scores: Array) -> dict[str, float]:
    ranked = [q.paths[i] for i in order(scores)[:10]]
    targets = q.row["targets"]
    return {
        "NDCG@10": ndcg(ranked, targets),
        "MRR@10": reciprocal_rank(ranked, targets),
        "R@1": float(bool(ranked) and ranked[0] in targets),
    }


def summary(queries: list[Query], scores: Callable[[Query], Array]) -> dict[str, float]:
    parts: dict[str, list[dict[str, float]]] = {}
    for q in queries:
        m = metrics(q, scores(q))
        parts.setdefault(q.part, []).append(m)
        if q.descriptive and q.row["category"] == "symbol":
            parts.setdefault("symbol", []).append(m)
        if not q.descriptive:
            parts.setdefault("eval", []).append(m)

    def mean(part: str, metric: str) -> float:
        return round(statistics.fmean(m[metric] for m in parts.get(part, [{metric: 0.0}])), 4)

    out = {
        "tuning_ndcg": mean("tuning", "NDCG@10"),
        "held_out_ndcg": mean("held_out", "NDCG@10"),
        "symbol_r1": mean("symbol", "R@1"),
        "eval_mrr": mean("eval", "MRR@10"),
    }
    out.update({f"{name}_mrr": mean(name, "MRR@10") for name in EVAL_NAMES if name in parts})
    return out


# --- the learned re-ranker ------------------------------------------------------------------


def features(q: Query, names: Iterable[str]) -> tuple[Array, Array]:
    """The fusion's TOP files of `q` (demoted ones excluded) as rows of features."""
    top = [i for i in order(q.fused)[:TOP] if not q.down[i]]
    prose = 0.0 if names_code(q.row["query"]) else 1.0
    columns = []
    for name in names:
        z = standardised(q, name)
        ranks = np.empty(len(z))
        ranks[order(z)] = np.arange(len(z))
        columns += [z, prose * z, 1.0 / (5.0 + ranks)]
    fused_rank = np.empty(len(q.fused))
    fused_rank[order(q.fused)] = np.arange(len(q.fused))
    columns += [q.fused, 1.0 / (5.0 + fused_rank)]
    return np.stack(columns, axis=1)[top], np.array(top, dtype=np.int64)


def fit(x: Array, y: Array, l2: float = 1.0, steps: int = 25) -> tuple[Array, Array, Array]:
    """L2-regularised logistic regression by Newton's method on standardised columns, the
    positives weighted up to the negatives' total. Returns (coefficients, mean, scale)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    weight = np.where(y > 0, (y == 0).sum() / max((y > 0).sum(), 1), 1.0)
    beta = np.zeros(z.shape[1])
    penalty = l2 * np.eye(z.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        gradient = z.T @ (weight * (p - y)) + penalty @ beta
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + penalty
        beta -= np.linalg.solve(hessian, gradient)
    return beta, mean, scale


class Learned:
    """Per query, the scores of a re-ranker trained on the queries `trained_on` allows."""

    def __init__(self, queries: list[Query], names: list[str]) -> None:
        self.names = names
        self.rows = {id(q): features(q, names) for q in queries}
        self.queries = queries
        self.models: dict[str, tuple[Array, Array, Array]] = {}

    @staticmethod
    def trained_on(tested: Query, other: Query) -> bool:
        """Whether `other` may train the model that ranks `tested`: never a query of the same
        repository, nor one of the descriptive held-out third."""
        if other.row["name"] == tested.row["name"]:
            return False
        return not other.descriptive or other.part == "tuning"

    def model(self, tested: Query) -> tuple[Array, Array, Array]:
        key = str(tested.row["name"])
        if key not in self.models:
            train = [q for q in self.queries if self.trained_on(tested, q)]
            x = np.concatenate([self.rows[id(q)][0] for q in train])
            y = np.concatenate(
                [
                    np.array([q.paths[i] in q.row["targets"] for i in self.rows[id(q)][1]], float)
                    for q in train
                ]
            )
            self.models[key] = fit(x, y)
        return self.models[key]

    def scores(self, q: Query) -> Array:
        beta, mean, scale = self.model(q)
        x, top = self.rows[id(q)]
        out = q.fused - 1e6  # files outside the re-ranked top keep the fusion's order after it
        if len(top):
            z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
            out[top] = z @ beta
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--descriptive", required=True)
    parser.add_argument("--eval", required=True)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    queries = load(args.descriptive) + load(args.eval)
    fused = {n for n in queries[0].signals if n in DEFAULT_WEIGHTS.__dict__}
    candidates = sorted({n for q in queries for n in q.signals} - fused)
    variants: dict[str, Callable[[Query], Array]] = {"fusion": lambda q: q.fused}
    for name in candidates:
        for w in WEIGHTS:
            variants[f"+{name} {w}"] = lambda q, n=name, w=w: q.fused + w * standardised(q, n)
    everything = sorted({n for q in queries for n in q.signals})
    variants["learned"] = Learned(queries, everything).scores
    report = {}
    for label, scores in variants.items():
        report[label] = summary(queries, scores)
        print(f"{label:32s}", report[label], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
