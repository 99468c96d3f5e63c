"""Retrieval quality and latency on ../shared/eval (commit message -> files it changed), through
the local stack's POST /search, for every mode and for the scorer's own BM25, in one run.

    .venv/bin/python bench/retrieval_bench.py [--repos-root /work/eval-repos] [--names flask,ky]
                                              [--limit N] [--out bench/results/retrieval_bench.json]

How: the local stack runs on moto with the local default embedder (MiniLM as int8 ONNX). For each
snapshot the scorer makes (the parent commit and its ancestors, nothing later), the bench
points one repository per eval repository (`github:eval:<name>`, registered with
`IndexRequests.request_at` as the freshness bench does, since the API refuses github ids
with local remotes) at the snapshot and waits until it is indexed at the parent with every
vector (not only lexically searchable, ADR 11): successive
snapshots are incremental generations of that repository (unchanged blobs are neither parsed
nor embedded again). Every query then goes through POST /search once per mode; the hybrid
mode's ablations (one signal or the test demotion removed) run in-process through the same
retriever with other weights. Printed: the table (R@1, R@5, R@10, MRR@10 per repository and
pooled), query latency p50/p95 per mode (in the service, and through local HTTP), embedding
throughput, index time. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _env import ROOT

from chalicelib import bootstrap
from chalicelib.client.transport import exchange, repository_path
from chalicelib.domain.hybrid import DEFAULT_WEIGHTS, Weights
from chalicelib.domain.identity import ADMIN_TENANT, Caller, Scope
from chalicelib.domain.lexical import _any_of, _line_terms
from chalicelib.domain.models import Repository
from chalicelib.domain.path_roles import asked_roles, demoted
from chalicelib.domain.ranking import _compact, _name_parts
from chalicelib.domain.tokens import _query_terms
from chalicelib.local.admin_key import provide_admin_key
from chalicelib.local.stack import LocalStack, StackOptions
from chalicelib.services.retriever import Retriever
from chalicelib.services.search import SearchQuery
from chalicelib.settings import Settings

EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "bench" / "results" / "retrieval_bench.json"
MODES = ("hybrid", "lexical", "semantic", "symbol")
ABLATIONS = {
    "hybrid -history": replace(DEFAULT_WEIGHTS, history=0.0),
    "hybrid -semantic": replace(DEFAULT_WEIGHTS, semantic=0.0),
    "hybrid -symbol": replace(DEFAULT_WEIGHTS, symbol=0.0),
    "hybrid -described": replace(DEFAULT_WEIGHTS, described=0.0),
    "hybrid -demotion": replace(DEFAULT_WEIGHTS, demote=False),
    "file bm25 +demotion": Weights(
        lexical=1.0, history=0.0, semantic=0.0, symbol=0.0, described=0.0
    ),
}
INDEX_TIMEOUT = 1800.0
METRICS = ("R@1", "R@5", "R@10", "MRR@10")


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def cold_caches() -> None:
    """Empty the query path's memo tables (a query's terms and pattern, lines' and symbol
    names' terms), so a timed call pays what a query never seen before pays."""
    for memo in (_query_terms, _any_of, _line_terms, _compact, _name_parts):
        memo.cache_clear()


class StrataSystem:
    """The scorer's module interface (index, search) over the local stack's HTTP API."""

    def __init__(self, stack: LocalStack, k: int) -> None:
        self.stack = stack
        self.k = k
        self.ranked: dict[str, dict[str, list[str]]] = {m: {} for m in (*MODES, *ABLATIONS)}
        # Per mode: the service call (what a warm function spends) and the local HTTP round trip.
        self.latency: dict[str, list[float]] = {
            name: [] for m in MODES for name in (m, f"{m} (HTTP)")
        }
        self.index_s: list[float] = []
        self.dump: list[dict[str, Any]] | None = None
        self.name = ""
        self.rid = ""
        self.branch = "main"
        self.key: str | None = None  # the stack's admin key
        self.retrievers = {
            label: Retriever(bootstrap.container().retriever.signals, _queries(), weights)
            for label, weights in ABLATIONS.items()
        }

    def index(self, repo_path: str, sha: str) -> None:
        started = time.perf_counter()
        repo = Repository(id=self.rid, remote=repo_path, branch=self.branch)
        bootstrap.index_requests().request_at(repo, sha, source="api")
        deadline = time.monotonic() + INDEX_TIMEOUT
        while time.monotonic() < deadline:
            code, status = exchange(
                self.stack.api_url, "GET", repository_path(self.rid, "/status"), api_key=self.key
            )
            if code == 200 and (status["status"] == "error" or status.get("vectors") == "failed"):
                raise RuntimeError(f"indexing {sha[:12]} failed: {status.get('error')}")
            # Ready at `sha` with every vector: a generation is searchable lexically first
            # (ADR 11), and a query asked then would rank without the semantic signal.
            embedded = status.get("vectors") in (None, "none", "complete") if code == 200 else False
            if (
                code == 200
                and status["status"] == "ready"
                and status["indexedSha"] == sha
                and embedded
            ):
                self.index_s.append(time.perf_counter() - started)
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.rid} was not indexed at {sha[:12]}")

    def search(self, repo_path: str, sha: str, query: str, k: int) -> list[str]:
        key = f"{sha}:{query}"
        retriever = bootstrap.container().retriever
        repo = bootstrap.container().pointers.get(self.rid)
        assert repo is not None and repo.generation is not None
        loaded = bootstrap.container().loader.load(repo.generation)
        retriever.hybrid(loaded, "warm up", 1)  # latency is measured on a loaded generation
        searcher = bootstrap.searcher(Caller("bench", ADMIN_TENANT, Scope.ADMIN))
        for mode in MODES:
            body = {"repositoryId": self.rid, "query": query, "k": k, "mode": mode}
            retriever.queries.clear()  # every timed query embeds itself
            started = time.perf_counter()
            code, found = exchange(self.stack.api_url, "POST", "/search", body, api_key=self.key)
            self.latency[f"{mode} (HTTP)"].append(time.perf_counter() - started)
            paths = [h["path"] for h in found["hits"]] if code == 200 else []
            self.ranked[mode][key] = paths
            retriever.queries.clear()
            cold_caches()  # nor does it find its terms, pattern or lines from the call above
            started = time.perf_counter()
            searcher.search(SearchQuery(query, (self.rid,), k=k, mode=mode))
            self.latency[mode].append(time.perf_counter() - started)
        for label, variant in self.retrievers.items():
            self.ranked[label][key] = [p.path for p in variant.hybrid(loaded, query, k)]
        if self.dump is not None:
            self.dump.append(signals_of(retriever, loaded, query, key))
        return self.ranked["hybrid"][key]


def signals_of(retriever: Retriever, loaded: Any, query: str, key: str) -> dict[str, Any]:
    """Every file's raw signals for one query (for tuning weights offline)."""
    (s,), (raw,), (sims,) = retriever.file_signals([loaded], query)
    return {
        "key": key,
        "paths": list(s.paths),
        "demoted": demoted(s.roles, asked_roles(query)),
        "signals": {n: [round(float(x), 5) for x in v] for n, v in raw.items()},
        "candidates": {
            n: [round(float(x), 5) for x in v]
            for n, v in candidate_signals(s, sims, loaded, query).items()
        },
    }


def candidate_signals(s: Any, sims: Any, loaded: Any, query: str) -> dict[str, Any]:
    """File signals not (yet) in the fusion, dumped to measure them offline: its number of
    chunks, its best chunk's BM25 (0 outside the 500 best chunks), the mean of its three most
    similar chunks and a soft maximum of its chunk similarities."""
    files = np.concatenate(s.live.chunk_files)
    n = len(s.paths)
    count = np.bincount(files[files >= 0], minlength=n).astype(np.float64)
    index = {p: i for i, p in enumerate(s.paths)}
    chunk_max = np.zeros(n)
    for hit in loaded.lexical.search(query, 500):
        i = index.get(hit.path)
        if i is not None:
            chunk_max[i] = max(chunk_max[i], hit.score)
    out: dict[str, Any] = {"chunks": count, "lexical_chunk_max": chunk_max}
    if sims is None:
        return out
    values = np.concatenate(sims).astype(np.float64)
    live = files >= 0
    files, values = files[live], values[live]
    order = np.lexsort((-values, files))  # by file, best chunk first
    files, values = files[order], values[order]
    first = np.searchsorted(files, np.arange(n))
    rank = np.arange(len(files)) - first[files]
    top = rank < 3
    top3 = np.bincount(files[top], weights=values[top], minlength=n)
    out["semantic_top3"] = np.where(count > 0, top3 / np.maximum(np.minimum(count, 3), 1), np.nan)
    tau = 0.05
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, files, values)
    mass = np.bincount(files, weights=np.exp((values - peak[files]) / tau), minlength=n)
    out["semantic_lse"] = np.where(count > 0, peak + tau * np.log(np.maximum(mass, 1e-300)), np.nan)
    return out


def _throughput(samples: int = 256) -> float:
    """Chunks per second of the configured embedder on this repository's own chunks."""
    texts = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        lines = path.read_text().split("\n")
        texts += ["\n".join(lines[i : i + 40]) for i in range(0, len(lines), 40)]
    embedder = bootstrap.container().ports.embedder
    assert embedder is not None
    embedder.embed(texts[:8])
    started = time.perf_counter()
    embedder.embed(texts[:samples])
    return min(samples, len(texts)) / (time.perf_counter() - started)


def _queries() -> Any:
    return bootstrap.container().retriever.queries


def score_mode(ev: Any, rows: dict[str, dict[str, Any]], ranked: dict[str, list[str]]) -> Any:
    records = []
    for key, paths in ranked.items():
        row = rows[key]
        records.append(
            {"id": row["id"], "name": row["name"], "targets": row["targets"], "ranked": paths,
             "index_s": 0.0, "query_s": 0.0, **ev.score(paths, row["targets"], 10)}
        )  # fmt: skip
    names = [
        n
        for n in ("flask", "starlette", "black", "ky", "pnt")
        if any(r["name"] == n for r in records)
    ]
    return ev.summarize(records, names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos-root", default="/work/eval-repos")
    parser.add_argument("--names", default="")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--dump-signals", default="", help="write every query's file signals")
    parser.add_argument("--embedder", default="onnx", help="onnx (local default), minilm, static")
    parser.add_argument(
        "--state-dir", default="", help="keep the stack's state here (a rerun reuses vectors)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(EVAL))
    import localization_eval as ev

    config = ev.load_config(EVAL)
    names = [n for n in args.names.split(",") if n] or [r["name"] for r in config["repos"]]
    repo_paths = {n: str(Path(args.repos_root) / n) for n in names}
    started = time.perf_counter()
    baseline = ev.run_baseline("bm25_file", repo_paths, EVAL, names, args.limit, progress=False)
    baseline_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="strata-retrieval-") as tmp:
        settings = Settings(
            resource_prefix="bench-retrieval",
            embedder=args.embedder,
            # the scorer checks each query's parent out under the temporary directory
            local_roots=(str(Path(args.repos_root).resolve()), tempfile.gettempdir()),
            rate_per_second=0,  # the bench polls every 50 ms: no per-key limit
        )
        state = Path(args.state_dir or tmp)
        options = StackOptions(
            state_dir=state, port=0, settings=settings, save_on_stop=bool(args.state_dir)
        )
        with LocalStack(options) as stack:
            system = StrataSystem(stack, 10)
            system.key = provide_admin_key(state).token
            system.dump = [] if args.dump_signals else None
            rows: dict[str, dict[str, Any]] = {}
            for name in names:
                system.name, system.rid = name, f"github:eval:{name}"
                system.branch = next(r for r in config["repos"] if r["name"] == name)["branch"]
                for row in ev.load_rows(name, EVAL)[: args.limit or None]:
                    rows[f"{row['parent']}:{row['query']}"] = row
                ev.evaluate(
                    system.search, {name: repo_paths[name]}, index=system.index, data_dir=EVAL,
                    names=[name], limit=args.limit, progress=True, system="strata",
                )  # fmt: skip
            embedded = _embedding_totals(stack)
            embedded["chunks_per_s"] = round(_throughput(), 1)
            if args.dump_signals:
                dumped = {"rows": rows, "queries": system.dump}
                Path(args.dump_signals).write_text(json.dumps(dumped))
    report = _report(
        ev, baseline, rows=rows, system=system, embedded=embedded, baseline_s=baseline_s
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "tables"}, indent=2))
    print("\n".join(report["tables"]))
    return 0


def _embedding_totals(stack: LocalStack) -> dict[str, float]:
    jobs = bootstrap.container().ports.jobs
    table = bootstrap.container().settings.names.tables["jobs"]
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=stack.aws_url, region_name="us-east-1")
    embedded = reused = 0
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            job = jobs.get(item["job_id"]["S"])
            if job is not None:
                embedded += job.chunks_embedded
                reused += job.vectors_reused
    return {"chunks_embedded": embedded, "vectors_reused": reused}


def _report(
    ev: Any,
    baseline: dict[str, Any],
    *,
    rows: dict[str, dict[str, Any]],
    system: StrataSystem,
    embedded: dict[str, float],
    baseline_s: float,
) -> dict[str, Any]:
    tables = [baseline["table"]]
    pooled: dict[str, dict[str, float]] = {
        "bm25_file (scorer)": baseline["summary"]["ALL (pooled)"]
    }
    for mode, ranked in system.ranked.items():
        summary = score_mode(ev, rows, ranked)
        tables.append(ev.table(summary, f"strata {mode} (k=10)"))
        pooled[f"strata {mode}"] = summary["ALL (pooled)"]
    latency = {
        mode: {"p50_ms": _ms(percentile(v, 0.5)), "p95_ms": _ms(percentile(v, 0.95))}
        for mode, v in system.latency.items()
    }
    return {
        "pooled": {k: {m: round(v[m], 3) for m in METRICS} for k, v in pooled.items()},
        "latency": latency,
        "index_s": {
            "snapshots": len(system.index_s),
            "p50": round(statistics.median(system.index_s), 2) if system.index_s else 0,
            "total": round(sum(system.index_s), 1),
        },
        "embedding": embedded,
        "baseline_s": round(baseline_s, 1),
        "tables": tables,
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
