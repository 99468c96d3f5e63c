"""Index a realistic repository end to end on moto and print what it cost (JSON).

    python bench/index_bench.py                 # a git repo made from moto's own source tree
    python bench/index_bench.py PATH [PATH...]  # any local git repositories (their HEAD)

Per repository: files and bytes, first-index wall/CPU seconds and MB/s, a forced re-index of
the unchanged tree (blobs parsed vs reused, time as a fraction of the first), bytes stored
in S3 vs source bytes, search latency p50/p95 over 100 queries (service and HTTP route), and
the index worker's peak traced memory while planning and staging (moto runs as a separate
server process, so only Strata's own heap is traced; measured on the whole tree and on half
of it, to show whether it follows the repository size or the batch size). Figures are also
written to bench/results/index_bench.json. Nothing here asserts: read the numbers.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import boto3
import pygit2
from _env import ROOT
from chalice.test import Client

from chalicelib import bootstrap
from chalicelib.domain.identity import ADMIN_TENANT, Caller, Scope
from chalicelib.local.provision import provision
from chalicelib.local.pump import Route, WorkerPump
from chalicelib.services.search import SearchQuery
from chalicelib.settings import Settings

SIGNATURE = pygit2.Signature("bench", "bench@example.com", 1_700_000_000, 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server in its own process on loopback, stopped on exit."""

    def __enter__(self) -> str:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return f"http://127.0.0.1:{self.port}"
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def repo_from_tree(source: Path, dest: Path, every: int = 1) -> Path:
    """A one-commit git repository holding every `every`-th file under `source`."""
    repo = pygit2.init_repository(str(dest), bare=True)
    index = pygit2.Index()
    files = [p for p in sorted(source.rglob("*")) if p.is_file() and not p.is_symlink()]
    for path in files[::every]:
        if "__pycache__" not in path.parts:
            oid = repo.create_blob(path.read_bytes())
            index.add(pygit2.IndexEntry(path.relative_to(source).as_posix(), oid, 0o100644))
    tree = index.write_tree(repo)
    repo.create_commit("refs/heads/main", SIGNATURE, SIGNATURE, "snapshot", tree, [])
    repo.set_head("refs/heads/main")
    return dest


def make_pump(app: Any, settings: Settings, sqs: Any) -> WorkerPump:
    routes = {}
    for name, function, batch in (("index", "index_worker", 1), ("parse", "parse_worker", 5)):
        url = sqs.get_queue_url(QueueName=settings.names.queues[name])["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        routes[name] = Route(
            url, arn["Attributes"]["QueueArn"], app.handler_map[function], function, batch, 0
        )
    return WorkerPump(sqs, routes, settings.region)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bucket_bytes(s3: Any, bucket: str, prefix: str) -> int:
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        total += sum(o["Size"] for o in page.get("Contents", []))
    return total


def queries_from(texts: list[str], n: int = 100) -> list[str]:
    words = sorted({w for t in texts for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,30}", t)})
    rng = random.Random(7)
    return [" ".join(rng.sample(words, rng.choice((1, 2, 3)))) for _ in range(n)]


def timed_index(
    client: Client, pump: WorkerPump, body: dict[str, Any]
) -> tuple[dict, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    started = client.http.post(
        "/repositories/index", headers={"Content-Type": "application/json"}, body=json.dumps(body)
    ).json_body
    pump.drain()
    return started, time.perf_counter() - wall, time.process_time() - cpu


def traced_index(client: Client, pump: WorkerPump, body: dict[str, Any]) -> tuple[int, str]:
    """Peak Python heap of the index worker (plan + stage) alone, and the repository id."""
    started = client.http.post(
        "/repositories/index", body=json.dumps(body), headers={"Content-Type": "application/json"}
    ).json_body
    tracemalloc.start()
    pump.poll("index")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    pump.drain()
    return peak, started["repositoryId"]


def send_key(client: Client, key: str) -> None:
    """Every request of `client` carries `key`: the bench measures routes, not the key check
    (which it still pays, as every request does)."""
    http = client.http
    send = http.request

    def request(
        method: str, path: str, headers: dict[str, str] | None = None, body: Any = b""
    ) -> Any:
        return send(
            method, path, headers={**(headers or {}), "Authorization": f"Bearer {key}"}, body=body
        )

    http.request = request  # type: ignore[method-assign]


def bench_repository(path: Path, workdir: Path, half: Path | None) -> dict[str, Any]:
    with MotoServer() as endpoint:
        settings = Settings(
            resource_prefix="bench",
            allow_local_paths=True,
            embedder="none",  # parsing and storage only: bench/retrieval_bench.py embeds
            endpoint_url=endpoint,
            git_cache_dir=str(workdir / "git-cache"),
        )
        provision(settings)
        bootstrap.configure(settings)
        from app import app

        sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=endpoint)
        s3 = boto3.client("s3", region_name=settings.region, endpoint_url=endpoint)
        pump = make_pump(app, settings, sqs)
        with Client(app) as client:
            send_key(client, bootstrap.key_admin().create_admin(name="bench", by="bench"))
            body = {"url": str(path)}
            first, wall1, cpu1 = timed_index(client, pump, body)
            rid = first["repositoryId"]
            status = client.http.get(f"/repositories/{rid}/status").json_body
            _, wall2, cpu2 = timed_index(client, pump, {**body, "force": True})
            again = client.http.get(f"/repositories/{rid}/status").json_body
            t = time.perf_counter()
            unchanged = client.http.post(
                "/repositories/index",
                body=json.dumps(body),
                headers={"Content-Type": "application/json"},
            ).json_body
            noop_ms = (time.perf_counter() - t) * 1000
            stored = {p: bucket_bytes(s3, settings.names.bucket, p) for p in ("blobs/", "repos/")}
            searcher = bootstrap.searcher(Caller("bench", ADMIN_TENANT, Scope.ADMIN))
            segment = (
                bootstrap.container()
                .loader.load(
                    bootstrap.repo_store().get(rid).generation  # type: ignore[union-attr,arg-type]
                )
                .lexical
            )
            queries = queries_from([segment.file_text(p) or "" for p in segment.paths[:400]])
            searcher.search(SearchQuery("warm up", (rid,)))
            service_ms, http_ms = [], []
            for q in queries:
                t = time.perf_counter()
                searcher.search(SearchQuery(q, (rid,)))
                service_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                client.http.post(
                    "/search",
                    headers={"Content-Type": "application/json"},
                    body=json.dumps({"repositoryId": rid, "query": q}),
                )
                http_ms.append((time.perf_counter() - t) * 1000)
            fork = workdir / "fork"
            shutil.copytree(path, fork)
            peak, fork_id = traced_index(client, pump, {"url": str(fork)})
            fork_status = client.http.get(f"/repositories/{fork_id}/status").json_body
            half_peak = traced_index(client, pump, {"url": str(half)})[0] if half else None
            small = Path(str(fork) + "-small-batches")
            shutil.copytree(path, small)
            # Same warm clients, smaller batches: only the batch cap changes.
            warm = bootstrap.container()
            small_config = replace(warm.config, batch_bytes=1024 * 1024)
            bootstrap.configure(settings, replace(warm, config=small_config))
            small_peak = traced_index(client, pump, {"url": str(small)})[0]
        bootstrap.reset()
    stats = status["stats"]
    source = stats["totalSize"]
    return {
        "repository": str(path),
        "status": status["status"],
        "files": stats["totalFiles"],
        "skipped": stats["skipped"],
        "chunks": stats["chunks"],
        "bytes": source,
        "first_index": {
            "wall_s": round(wall1, 2),
            "cpu_s": round(cpu1, 2),
            "mb_per_s": round(source / 1e6 / wall1, 2),
            "blobs_parsed": stats["blobsParsed"],
            "blobs_reused": stats["blobsReused"],
        },
        "forced_reindex_unchanged": {
            "wall_s": round(wall2, 3),
            "cpu_s": round(cpu2, 3),
            "fraction_of_first": round(wall2 / wall1, 4),
            "blobs_parsed": again["stats"]["blobsParsed"],
            "blobs_reused": again["stats"]["blobsReused"],
        },
        "request_same_head": {"status": unchanged["status"], "ms": round(noop_ms, 1)},
        "fork_of_same_tree": {
            "blobs_parsed": fork_status["stats"]["blobsParsed"],
            "blobs_reused": fork_status["stats"]["blobsReused"],
        },
        "stored_bytes": {
            **stored,
            "total": sum(stored.values()),
            "ratio_to_source": round(sum(stored.values()) / max(1, source), 3),
        },
        "search_ms": {
            "queries": len(queries),
            "service_p50": round(statistics.median(service_ms), 3),
            "service_p95": round(percentile(service_ms, 0.95), 3),
            "http_p50": round(statistics.median(http_ms), 3),
            "http_p95": round(percentile(http_ms, 0.95), 3),
        },
        "index_worker_peak_heap_mb": {
            "whole_tree": round(peak / 1e6, 2),
            "half_tree": round(half_peak / 1e6, 2) if half_peak else None,
            "batch_cap_mb": settings.parse_batch_bytes / 1e6,
            "whole_tree_with_1mb_batch_cap": round(small_peak / 1e6, 2),
        },
    }


def main(argv: list[str]) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as tmp:
        work = Path(tmp)
        if argv:
            targets: list[tuple[Path, Path | None]] = [(Path(a).resolve(), None) for a in argv]
        else:
            import moto

            src = Path(moto.__file__).parent
            targets = [
                (
                    repo_from_tree(src, work / "moto-src.git"),
                    repo_from_tree(src, work / "moto-half.git", every=2),
                )
            ]
        for n, (target, half) in enumerate(targets):
            results.append(bench_repository(target, work / f"run{n}", half))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "index_bench.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
