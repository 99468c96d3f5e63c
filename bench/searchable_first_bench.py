"""Searchable first (issue 16): on the local stack with a real embedder, the seconds from an
index request to lexically searchable, and to fully embedded.

    python bench/searchable_first_bench.py                 # pytest's mirror if fetched
    python bench/searchable_first_bench.py --repo PATH     # any local git repository's HEAD
    python bench/searchable_first_bench.py --embedder minilm --queries 20   # default: onnx
    python bench/searchable_first_bench.py --max-embed-seconds 600   # stop waiting then

One fresh `LocalStack` in this process (its worker processes as `strata serve` has them), the
repository's HEAD tree snapshotted into a one-commit repository. The status is polled every
0.1 s; once it says `ready` a lexical search is asked at once (its hits prove the generation
is served), then the status again until `vectors` leaves `embedding`. Recorded: seconds to
`ready`, to the first lexical hits, and to `vectors: complete`; the `semantic` coverage a
hybrid query reports while embedding and after; lexical and hybrid latencies (p50 over
--queries) in each phase; and the timeline of (seconds, status, vectors, files parsed,
files embedded). Results go to bench/results/searchable_first_bench.json. Other work may
share the machine: the load average before the request is recorded. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from first_index_bench import PYTEST_MIRROR, snapshot  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "searchable_first_bench.json"
KEY = "strata_benchmarkkey_" + "S" * 43
QUERIES = [
    "fixture scope teardown",
    "parametrize ids",
    "assertion rewriting",
    "capture stdout",
    "monkeypatch setattr",
    "tmp_path factory",
    "collect modules",
    "skip marker reason",
    "raises match",
    "warnings recorder",
]


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


def latencies(call: Any, rid: str, mode: str, n: int) -> dict[str, Any]:
    """p50/p95 ms of `n` searches in `mode`, and the semantic coverage they reported."""
    times, coverage = [], set()
    for i in range(n):
        body = {"repositoryId": rid, "query": QUERIES[i % len(QUERIES)], "mode": mode, "k": 10}
        ms, answer = timed(lambda body=body: call("POST", "/search", body))
        times.append(ms)
        coverage.add(answer.get("semantic"))
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "semantic": sorted(c for c in coverage if c),
    }


def run(repo: Path, embedder: str, queries: int, max_embed_seconds: float) -> dict[str, Any]:
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "STRATA_API_KEY": KEY}
    )
    from chalicelib.client.transport import exchange
    from chalicelib.local.admin_key import provide_admin_key
    from chalicelib.local.stack import LocalStack, StackOptions
    from chalicelib.settings import Settings

    with tempfile.TemporaryDirectory(prefix="strata-searchable-first-") as tmp:
        tree = snapshot(repo, Path(tmp))
        settings = Settings(
            resource_prefix="bench-sf",
            embedder=embedder,
            local_roots=(str(tree.parent), tmp),
            rate_burst=1_000_000,
        )
        options = StackOptions(state_dir=Path(tmp) / "state", port=0, settings=settings)
        with LocalStack(options) as stack:
            provide_admin_key(options.state_dir, KEY)
            if hasattr(stack, "wait_for_workers"):
                stack.wait_for_workers()
            api = stack.api_url

            def call(method: str, path: str, body: object = None) -> Any:
                code, answer = exchange(api, method, path, body, timeout=120, api_key=KEY)
                assert code == 200, (code, answer)
                return answer

            return measure(call, tree, queries, max_embed_seconds)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def save(partial: dict[str, Any]) -> None:
    """What is known so far (a run stopped early still leaves its figures)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"partial": True, **partial}, indent=2) + "\n")


def measure(call: Any, tree: Path, queries: int, max_embed_seconds: float) -> dict[str, Any]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    rid = call("POST", "/repositories/index", {"url": str(tree)})["repositoryId"]
    requested = time.perf_counter() - started
    timeline: list[tuple[Any, ...]] = []
    out: dict[str, Any] = {"request_s": round(requested, 3), "load_average_1m_before": load}

    def poll() -> dict[str, Any]:
        status: dict[str, Any] = call("GET", f"/repositories/{rid}/status")
        p = status.get("progress") or {}
        point = (status["status"], status.get("vectors"), p.get("filesProcessed"))
        point += (p.get("filesEmbedded"),)
        if not timeline or timeline[-1][1:] != point:
            timeline.append((round(time.perf_counter() - started, 2), *point))
        return status

    while (status := poll())["status"] not in ("ready", "error"):
        time.sleep(0.1)
    out["ready_s"] = round(time.perf_counter() - started, 2)
    log(f"ready after {out['ready_s']} s: {status.get('vectors')}")
    body = {"repositoryId": rid, "query": "fixture", "mode": "lexical", "k": 5}
    hits = call("POST", "/search", body)["hits"]
    out["lexical_hits_s"] = round(time.perf_counter() - started, 2)
    out["lexical_hits"] = len(hits)
    out["vectors_at_ready"] = status.get("vectors")
    if status.get("vectors") == "embedding":
        out["while_embedding"] = {
            "lexical": latencies(call, rid, "lexical", queries),
            "hybrid": latencies(call, rid, "hybrid", queries),
        }
    save(out)
    limit = started + max_embed_seconds
    while (status := poll()).get("vectors") == "embedding" and status["status"] == "ready":
        if time.perf_counter() > limit:
            break
        if len(timeline) % 10 == 0:
            save(out | {"timeline_s_status_vectors_parsed_embedded": timeline})
        time.sleep(0.5)
    out["fully_embedded_s"] = round(time.perf_counter() - started, 2)
    if status.get("vectors") == "embedding":  # gave up waiting: how far it got
        p = status.get("progress") or {}
        out["fully_embedded_s"] = None
        out["stopped_after_s"] = round(time.perf_counter() - started, 2)
        out["files_embedded_when_stopped"] = (p.get("filesEmbedded"), p.get("numFiles"))
        out["timeline_s_status_vectors_parsed_embedded"] = timeline
        return out
    log(f"vectors {status.get('vectors')} after {out['fully_embedded_s']} s")
    out["final"] = {
        "status": status["status"],
        "vectors": status.get("vectors"),
        "error": status.get("error"),
        "files": status["stats"]["totalFiles"],
        "chunks": status["stats"]["chunks"],
        "chunks_embedded": status["stats"].get("chunksEmbedded"),
        "embedding_model": status["stats"].get("embeddingModel"),
    }
    out["after_embedding"] = {
        "lexical": latencies(call, rid, "lexical", queries),
        "hybrid": latencies(call, rid, "hybrid", queries),
    }
    out["timeline_s_status_vectors_parsed_embedded"] = timeline
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", help="a local git repository (default: pytest's mirror)")
    parser.add_argument("--embedder", default="onnx", help="the local default; minilm, static")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument(
        "--max-embed-seconds", type=float, default=3600, help="stop waiting for the vectors"
    )
    args = parser.parse_args()
    repo = Path(args.repo) if args.repo else PYTEST_MIRROR if PYTEST_MIRROR.exists() else ROOT
    result = {
        "repository": str(repo),
        "embedder": args.embedder,
        "cores": os.cpu_count(),
        **run(repo, args.embedder, args.queries, args.max_embed_seconds),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
