"""Retrieval on the descriptive query set (bench/descriptive/): questions people ask in words
("where is the retry policy configured?") over eight repositories in eight languages.

    .venv/bin/python bench/descriptive_bench.py [--names chi,rack] [--embedder minilm|static]
        [--mirror /work/.mirror] [--state-dir DIR] [--out bench/results/descriptive_bench.json]
        [--dump-signals FILE]

How: one local stack (moto) indexes each repository of `bench/descriptive/repos.json` at its
pinned commit, taken from the fetched mirror (`<mirror>/<owner>+<name>/repo`) as a one-commit
snapshot of that tree (the mirrors are partial: their history cannot be walked, so the
history signal is silent here), and waits until its vectors are complete; then every query goes
through the search service once per mode (hybrid, lexical, semantic). A query has one to
three files that answer it: scored by NDCG@10 (binary relevance), MRR@10 (first answering
file) and R@1 (an answering file first). Reported pooled, per language, per category
(architecture, behaviour, symbol) and separately for the tuning two thirds and the held-out
third: ranking changes are tuned on the first and judged on the second. The issue's targets:
held-out NDCG@10 >= 0.85 with every language >= 0.75, and symbol R@1 >= 0.9. Nothing here
asserts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT
from retrieval_bench import signals_of

from chalicelib import bootstrap
from chalicelib.client.transport import exchange, repository_path
from chalicelib.domain.identity import ADMIN_TENANT, Caller, Scope
from chalicelib.domain.models import Repository
from chalicelib.local.admin_key import provide_admin_key
from chalicelib.local.stack import LocalStack, StackOptions
from chalicelib.services.search import SearchQuery
from chalicelib.settings import Settings

HERE = ROOT / "bench" / "descriptive"
RESULTS = ROOT / "bench" / "results" / "descriptive_bench.json"
MODES = ("hybrid", "lexical", "semantic")
K = 10
INDEX_TIMEOUT = 3600.0


def ndcg(ranked: list[str], targets: list[str], k: int = K) -> float:
    """Binary-relevance NDCG@k: every answering file counts once, wherever it ranks."""
    wanted = set(targets)
    dcg = sum(1 / math.log2(i + 2) for i, path in enumerate(ranked[:k]) if path in wanted)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(wanted), k)))
    return dcg / ideal if ideal else 0.0


def reciprocal_rank(ranked: list[str], targets: list[str], k: int = K) -> float:
    return next((1 / (i + 1) for i, p in enumerate(ranked[:k]) if p in targets), 0.0)


def score(ranked: list[str], targets: list[str]) -> dict[str, float]:
    return {
        "NDCG@10": ndcg(ranked, targets),
        "MRR@10": reciprocal_rank(ranked, targets),
        "R@1": float(bool(ranked) and ranked[0] in targets),
        "R@10": float(any(p in targets for p in ranked[:K])),
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean metrics over records, by every grouping the issue reports."""

    def mean(group: list[dict[str, Any]]) -> dict[str, float]:
        metrics = group[0]["scores"].keys() if group else ()
        out = {m: round(statistics.fmean(r["scores"][m] for r in group), 3) for m in metrics}
        return {"n": len(group), **out}

    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        split = "held_out" if r["held_out"] else "tuning"
        for axis, value in (
            ("split", split),
            ("language", r["language"]),
            ("category", r["category"]),
            ("repository", r["name"]),
            ("held_out_language", r["language"] if r["held_out"] else None),
        ):
            if value is not None:
                groups[axis][value].append(r)
    return {
        "pooled": mean(records),
        **{axis: {v: mean(g) for v, g in sorted(vs.items())} for axis, vs in groups.items()},
    }


class Stack:
    """One local stack and what the bench asks of it."""

    def __init__(self, stack: LocalStack, key: str) -> None:
        self.stack, self.key = stack, key
        self.searcher = bootstrap.searcher(Caller("bench", ADMIN_TENANT, Scope.ADMIN))
        self.latency: dict[str, list[float]] = {m: [] for m in MODES}
        self.dump: list[dict[str, Any]] | None = None

    def index(self, rid: str, remote: str, branch: str, sha: str) -> dict[str, Any]:
        """Index `remote` at `sha` and wait until it is served with its vectors."""
        started = time.perf_counter()
        repo = Repository(id=rid, remote=remote, branch=branch)
        bootstrap.index_requests().request_at(repo, sha, source="api")
        deadline = time.monotonic() + INDEX_TIMEOUT
        while time.monotonic() < deadline:
            path = repository_path(rid, "/status")
            code, status = exchange(self.stack.api_url, "GET", path, api_key=self.key)
            if code == 200 and status["status"] == "error":
                raise RuntimeError(f"indexing {rid} failed: {status.get('error')}")
            served = code == 200 and status["status"] == "ready" and status["indexedSha"] == sha
            if served and status.get("vectors") != "embedding":
                stats = status["stats"]
                return {
                    "index_s": round(time.perf_counter() - started, 1),
                    "files": stats["totalFiles"],
                    "chunks": stats["chunks"],
                    "vectors": status.get("vectors"),
                    "languages": stats["languages"],
                }
            time.sleep(0.2)
        raise TimeoutError(f"{rid} was not indexed at {sha[:12]}")

    def search(self, rid: str, query: str, mode: str) -> list[str]:
        """The first K distinct files of a search (lexical and semantic rank chunks)."""
        k = K if mode == "hybrid" else 3 * K
        started = time.perf_counter()
        found = self.searcher.search(SearchQuery(query, (rid,), k=k, mode=mode))
        self.latency[mode].append(time.perf_counter() - started)
        paths = [hit.passage.path for hit in getattr(found, "hits", ())]
        return list(dict.fromkeys(paths))[:K]

    def dump_signals(self, rid: str, query: str, key: str) -> None:
        """Keep every file's raw signals for `query` (to tune the fusion offline)."""
        if self.dump is None:
            return
        repo = bootstrap.container().pointers.get(rid)
        assert repo is not None and repo.generation is not None
        loaded = bootstrap.container().loader.load(repo.generation)
        self.dump.append(signals_of(bootstrap.container().retriever, loaded, query, key))


def _head(tree: Path) -> str:
    git = ["git", "-C", str(tree), "rev-parse", "HEAD"]
    return subprocess.run(git, check=True, capture_output=True, text=True).stdout.strip()


def snapshot(mirror: Path, sha: str, into: Path) -> Path:
    """A one-commit repository (branch main) of `mirror`'s tree at `sha`."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", f"--git-dir={mirror}", "archive", sha], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    git = ["git", "-C", str(into), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    # A fixed date gives the same snapshot commit every run: with --state-dir a rerun finds
    # each repository indexed at it and only asks the queries.
    dated = {**os.environ, "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z"}
    dated["GIT_COMMITTER_DATE"] = dated["GIT_AUTHOR_DATE"]
    subprocess.run([*git, "commit", "-q", "-m", f"snapshot of {sha}"], check=True, env=dated)
    return into


def run(args: argparse.Namespace) -> dict[str, Any]:
    meta = json.loads((HERE / "repos.json").read_text())
    rows = [json.loads(line) for line in (HERE / "queries.jsonl").read_text().splitlines() if line]
    wanted = {n for n in args.names.split(",") if n}
    repos = [r for r in meta["repos"] if not wanted or r["name"] in wanted]
    mirror = Path(args.mirror).resolve()
    with tempfile.TemporaryDirectory(prefix="strata-descriptive-") as tmp:
        settings = Settings(
            resource_prefix="bench-descriptive",
            embedder=args.embedder,
            local_roots=(tmp,),
            rate_per_second=0,
        )
        state = Path(args.state_dir or tmp)
        options = StackOptions(
            state_dir=state, port=0, settings=settings, save_on_stop=bool(args.state_dir)
        )
        with LocalStack(options) as local:
            stack = Stack(local, provide_admin_key(state).token)
            stack.dump = [] if args.dump_signals else None
            indexed: dict[str, Any] = {}
            records: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
            for repo in repos:
                rid = f"github:descriptive:{repo['name']}"
                source = mirror / repo["github"].replace("/", "+") / "repo"
                tree = snapshot(source, repo["head"], Path(tmp) / "trees" / repo["name"])
                sha = _head(tree)
                print(f"indexing {repo['name']} ({repo['n_files']} files)", file=sys.stderr)
                indexed[repo["name"]] = stack.index(rid, str(tree), "main", sha)
                print(f"  {indexed[repo['name']]['index_s']} s", file=sys.stderr)
                for row in (r for r in rows if r["name"] == repo["name"]):
                    stack.dump_signals(rid, row["query"], row["id"])
                    for mode in MODES:
                        ranked = stack.search(rid, row["query"], mode)
                        records[mode].append(
                            {**row, "ranked": ranked, "scores": score(ranked, row["targets"])}
                        )
            if args.dump_signals:
                dumped = {"rows": {r["id"]: r for r in rows}, "queries": stack.dump}
                Path(args.dump_signals).write_text(json.dumps(dumped))
    return {
        "embedder": args.embedder,
        "queries": sum(1 for r in rows if r["name"] in indexed),
        "indexed": indexed,
        "latency_ms_p50": {
            m: round(1000 * statistics.median(v), 2) for m, v in stack.latency.items() if v
        },
        "by_mode": {m: summarize(rs) for m, rs in records.items() if rs},
        "ranked": {
            r["id"]: {m: records[m][i]["ranked"] for m in MODES}
            for i, r in enumerate(records["hybrid"])
        },
    }


def table(report: dict[str, Any], mode: str) -> str:
    s = report["by_mode"][mode]
    lines = [f"### {mode} (k={K})", "", "| group | n | NDCG@10 | MRR@10 | R@1 | R@10 |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    rows = [("pooled", s["pooled"])]
    for axis in ("split", "category", "language", "held_out_language"):
        rows += [(f"{axis}: {k}", v) for k, v in s.get(axis, {}).items()]
    for name, v in rows:
        lines.append(
            f"| {name} | {v['n']} | {v['NDCG@10']:.3f} | {v['MRR@10']:.3f} "
            f"| {v['R@1']:.3f} | {v['R@10']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", default="", help="a comma-separated subset of repositories")
    parser.add_argument("--embedder", default="onnx", help="the local default; minilm, static")
    parser.add_argument("--mirror", default="/work/.mirror")
    parser.add_argument("--state-dir", default="", help="keep the stack's state (reuse vectors)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--dump-signals", default="", help="write every query's file signals")
    args = parser.parse_args(argv)
    report = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("ranked", "by_mode")}))
    for mode in report["by_mode"]:
        print("\n" + table(report, mode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
