"""Embedders side by side, in one run: throughput on real chunks, agreement with float MiniLM,
query latency, and hybrid MRR@10 on ../shared/eval through the local stack.

    .venv/bin/python bench/embedder_bench.py [--embedders minilm,static,onnx,minilm-128]
        [--repo PATH] [--chunks 512] [--rounds 3] [--threads 1]
        [--repos-root /work/eval-repos] [--names flask,ky] [--limit N] [--no-eval]
        [--out bench/results/embedder_bench.json]

Chunks: the files of a real repository (this checkout by default, its `git ls-files`) through
the project's parser (`parse_blob`), embedded as the pipeline embeds them (`chunk_texts`);
`--chunks` of them, evenly spaced. Each embedder is loaded and warmed first (its first-use
cost is printed: a static model not yet in the cache is distilled then), then the embedders
take turns over `--rounds` rounds and each keeps its best round: other work on this machine
slows rounds, not embedders. Figures are also given as ratios to `minilm` (float, 256
tokens) of the same run.

Agreement: for an embedder of the same model (ONNX, a shorter sequence), the cosine of each
chunk's vector with float MiniLM's (mean, 1st percentile, min). A static model is another
model: no agreement, only MRR.

MRR: for each embedder a local stack (moto) indexes each eval snapshot and answers each query
in hybrid mode in-process (the retriever POST /search calls), with retrieval_bench's system
(`StrataSystem.index`, `score_mode`); each query's ranked list goes to the JSON, so two
embedders can be compared query by query (paired). `--names`/`--limit` take a subset. The
issue's rule: static may become the local default only if it loses <= 0.01 pooled MRR@10
against minilm. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT
from retrieval_bench import (
    EVAL,
    INDEX_TIMEOUT,
    METRICS,
    StrataSystem,
    percentile,
    score_mode,
)

from chalicelib import bootstrap
from chalicelib.client.transport import exchange, repository_path
from chalicelib.domain.vectors import chunk_texts
from chalicelib.local.admin_key import provide_admin_key
from chalicelib.local.stack import LocalStack, StackOptions
from chalicelib.parsers import parse_blob
from chalicelib.ports import Embedder
from chalicelib.settings import Settings

RESULTS = ROOT / "bench" / "results" / "embedder_bench.json"
BASELINE = "minilm"
# name -> the settings that select it (what STRATA_EMBEDDER and friends would say)
SPECS: dict[str, dict[str, Any]] = {
    "minilm": {"embedder": "minilm"},
    "minilm-128": {"embedder": "minilm", "embedding_max_tokens": 128},
    "onnx-128": {"embedder": "onnx", "embedding_max_tokens": 128},
    "onnx-192": {"embedder": "onnx", "embedding_max_tokens": 192},
    "static": {"embedder": "static"},
    "onnx": {"embedder": "onnx"},
}
QUERIES = [
    "Fix nested blueprint url_prefix",
    "load settings from a json config file",
    "retry when the queue times out",
    "where is the lease renewed before it expires",
]


def repository_chunks(repo: Path, count: int) -> list[str]:
    """`count` chunk texts of the repository's tracked files, evenly spaced, as embedded."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True
    ).stdout
    texts: list[str] = []
    for name in sorted(p for p in listed.decode().split("\0") if p):
        path = repo / name
        if not path.is_file() or path.stat().st_size > 1024 * 1024:
            continue
        texts += chunk_texts(parse_blob("0" * 40, name, path.read_bytes()))
    step = max(1, len(texts) // count)
    return texts[::step][:count]


def build(name: str, threads: int) -> Embedder:
    settings = Settings(embedding_threads=threads, **SPECS[name])
    made = bootstrap.embedder(settings, lambda service: None)
    assert made is not None
    return made


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def speed(names: list[str], texts: list[str], rounds: int, threads: int) -> dict[str, Any]:
    embedders = {}
    out: dict[str, Any] = {}
    for name in names:
        embedder = build(name, threads)
        first = _timed(lambda e=embedder: e.embed(texts[:8]))  # type: ignore[misc]
        embedders[name] = embedder
        out[name] = {"model_id": embedder.model_id, "dimensions": embedder.dimensions}
        out[name]["first_use_s"] = round(first, 2)
    best = {name: float("inf") for name in names}
    query = {name: [] for name in names}  # type: dict[str, list[float]]
    vectors = {}
    for _ in range(rounds):
        for name, embedder in embedders.items():
            started = time.perf_counter()
            vectors[name] = embedder.embed(texts)
            best[name] = min(best[name], time.perf_counter() - started)
            for q in QUERIES:
                query[name].append(_timed(lambda e=embedder, q=q: e.embed([q])))  # type: ignore[misc]
    base = best.get(BASELINE)
    for name in names:
        row = out[name]
        row["chunks_per_s"] = round(len(texts) / best[name], 1)
        row["query_p50_ms"] = round(1000 * percentile(query[name], 0.5), 2)
        if base is not None:
            row["speed_vs_minilm"] = round(base / best[name], 2)
        if BASELINE in vectors and name != BASELINE:
            row["cosine_vs_minilm"] = agreement(vectors[BASELINE], vectors[name])
    return out


def agreement(reference: Any, other: Any) -> dict[str, float] | None:
    if reference.shape != other.shape:
        return None  # another model: nothing to compare row by row
    cosines = (reference * other).sum(axis=1)
    return {
        "mean": round(float(cosines.mean()), 4),
        "p01": round(float(percentile(list(cosines), 0.01)), 4),
        "min": round(float(cosines.min()), 4),
    }


class HybridOnly(StrataSystem):
    """retrieval_bench's system with only the hybrid ranking, in-process, and no ablations."""

    def __init__(self, stack: LocalStack, k: int) -> None:
        super().__init__(stack, k)
        self.retrievers = {}
        self.ranked = {"hybrid": {}}
        self.query_s: list[float] = []
        self.semantic = 0  # queries whose generation had vectors of the query's model

    def index(self, repo_path: str, sha: str) -> None:
        """Indexed at `sha` (retrieval_bench), then its vectors: a generation is searchable
        lexically first and gains its vectors in a second publish (ADR 11)."""
        super().index(repo_path, sha)
        deadline = time.monotonic() + INDEX_TIMEOUT
        while time.monotonic() < deadline:
            code, status = exchange(
                self.stack.api_url, "GET", repository_path(self.rid, "/status"), api_key=self.key
            )
            state = status.get("vectors") if code == 200 else None
            if state == "failed":
                raise RuntimeError(f"embedding {sha[:12]} failed: {status.get('error')}")
            if state in ("complete", "none") and status.get("indexedSha") == sha:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.rid} has no vectors at {sha[:12]}")

    def search(self, repo_path: str, sha: str, query: str, k: int) -> list[str]:
        container = bootstrap.container()
        repo = container.pointers.get(self.rid, fresh=True)  # the generation with vectors
        assert repo is not None and repo.generation is not None
        loaded = container.loader.load(repo.generation)
        queries = container.retriever.queries
        queries.clear()
        model = container.retriever.signals.signals(loaded).model
        self.semantic += queries.embedder is not None and model == queries.embedder.model_id
        started = time.perf_counter()
        paths = [p.path for p in container.retriever.hybrid(loaded, query, k)]
        self.query_s.append(time.perf_counter() - started)
        self.ranked["hybrid"][f"{sha}:{query}"] = paths
        return paths


def retrieval(name: str, args: argparse.Namespace, ev: Any, config: Any) -> dict[str, Any]:
    names = [n for n in args.names.split(",") if n] or [r["name"] for r in config["repos"]]
    repo_paths = {n: str(Path(args.repos_root) / n) for n in names}
    with tempfile.TemporaryDirectory(prefix=f"strata-embedder-{name}-") as tmp:
        settings = Settings(
            resource_prefix=f"bench-embedder-{name}",
            # the scorer's snapshots are made under the temporary directory
            local_roots=(str(Path(args.repos_root).resolve()), str(Path(tmp).parent.resolve())),
            rate_per_second=0,
            embedding_threads=args.threads,
            **SPECS[name],
        )
        options = StackOptions(state_dir=Path(tmp), port=0, settings=settings, save_on_stop=False)
        started = time.perf_counter()
        with LocalStack(options) as stack:
            system = HybridOnly(stack, 10)
            system.key = provide_admin_key(Path(tmp)).token
            rows: dict[str, dict[str, Any]] = {}
            for repo in names:
                system.name, system.rid = repo, f"github:eval:{repo}"
                system.branch = next(r for r in config["repos"] if r["name"] == repo)["branch"]
                for row in ev.load_rows(repo, EVAL)[: args.limit or None]:
                    rows[f"{row['parent']}:{row['query']}"] = row
                ev.evaluate(
                    system.search, {repo: repo_paths[repo]}, index=system.index, data_dir=EVAL,
                    names=[repo], limit=args.limit, progress=False, system=f"strata-{name}",
                )  # fmt: skip
    summary = score_mode(ev, rows, system.ranked["hybrid"])
    per_query = {rows[key]["id"]: paths for key, paths in system.ranked["hybrid"].items()}
    return {
        "pooled": {m: round(summary["ALL (pooled)"][m], 3) for m in METRICS},
        "per_repository": {
            n: round(v["MRR@10"], 3) for n, v in summary.items() if not n.startswith("ALL")
        },
        "queries": len(rows),
        "with_vectors": system.semantic,
        "index_s_total": round(sum(system.index_s), 1),
        "hybrid_p50_ms": round(1000 * percentile(system.query_s, 0.5), 2),
        "wall_s": round(time.perf_counter() - started, 1),
        "table": ev.table(summary, f"strata hybrid, {name} (k=10)"),
        "ranked": per_query,
    }


def paired(base: dict[str, list[str]], other: dict[str, list[str]], rows: Any) -> dict[str, Any]:
    """Per-query MRR@10 differences (other - base) on the queries both ranked."""
    diffs = []
    for qid, paths in other.items():
        if qid in base:
            targets = rows[qid]
            diffs.append(_rr(paths, targets) - _rr(base[qid], targets))
    if not diffs:
        return {}
    return {
        "queries": len(diffs),
        "mrr_delta": round(statistics.fmean(diffs), 4),
        "better": sum(d > 0 for d in diffs),
        "worse": sum(d < 0 for d in diffs),
    }


def _rr(paths: list[str], targets: list[str]) -> float:
    return next((1.0 / (i + 1) for i, p in enumerate(paths[:10]) if p in targets), 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="minilm,static,onnx")
    parser.add_argument("--repo", default=str(ROOT), help="whose chunks to time")
    parser.add_argument("--chunks", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch/onnx threads (local: 1)")
    parser.add_argument("--repos-root", default="/work/eval-repos")
    parser.add_argument("--names", default="")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--no-eval", action="store_true", help="throughput and agreement only")
    parser.add_argument("--eval-embedders", default="", help="default: --embedders")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--merge", nargs="+", default=[], help="only pair the MRR runs of these result files"
    )
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)
    names = [n for n in args.embedders.split(",") if n]
    texts = repository_chunks(Path(args.repo), args.chunks)
    report: dict[str, Any] = {"chunks": len(texts), "threads": args.threads, "args": vars(args)}
    report["speed"] = speed(names, texts, args.rounds, args.threads)
    print(json.dumps(report["speed"], indent=2), flush=True)
    if not args.no_eval:
        sys.path.insert(0, str(EVAL))
        import localization_eval as ev

        config = ev.load_config(EVAL)
        evaluated = [n for n in (args.eval_embedders or args.embedders).split(",") if n]
        report["mrr"] = {}
        for name in evaluated:
            report["mrr"][name] = retrieval(name, args, ev, config)
            print(report["mrr"][name]["table"], flush=True)
            _write(args.out, report)  # a long run keeps what it has measured
        compare(report["mrr"])
    _write(args.out, report)
    return 0


def compare(mrr: dict[str, dict[str, Any]]) -> None:
    """Each embedder's run paired with minilm's on the queries both answered; printed."""
    if BASELINE in mrr:
        sys.path.insert(0, str(EVAL))
        import localization_eval as ev

        config = ev.load_config(EVAL)
        targets = {
            r["id"]: r["targets"] for n in config["repos"] for r in ev.load_rows(n["name"], EVAL)
        }
        for name, result in mrr.items():
            if name != BASELINE:
                base = mrr[BASELINE]["ranked"]
                result["paired_vs_minilm"] = paired(base, result["ranked"], targets)
    for name, result in mrr.items():
        brief = {k: v for k, v in result.items() if k not in ("table", "ranked")}
        print(name, json.dumps(brief), flush=True)


def merge(files: list[str], out: str) -> int:
    """Runs of one embedder each (in parallel processes), paired as one run would pair them."""
    reports = [json.loads(Path(f).read_text()) for f in files]
    merged: dict[str, Any] = {"merged_from": files, "speed": {}, "mrr": {}}
    for report in reports:
        merged["speed"] |= report.get("speed", {})
        merged["mrr"] |= report.get("mrr", {})
    compare(merged["mrr"])
    _write(out, merged)
    return 0


def _write(out: str, report: dict[str, Any]) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.exit(main())
