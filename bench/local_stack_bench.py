"""Figures for the local stack, printed as JSON and written to bench/results/local_stack_bench.json.

    python bench/local_stack_bench.py [--synthetic-mb 300] [--queries 100]

1. cold start: `make run` (an installed tree, fresh state) and `.venv/bin/strata serve
   --no-demo` to GET /health 200;
2. indexing the Strata checkout itself through the CLI (`strata index <root>`): wall time,
   files, bytes;
3. search latency over HTTP, p50/p95 of `--queries` queries;
4. restart: SIGTERM to exit (the last commit included), then start to /health and to the
   first answered search; the state's size on disk;
5. restore of a synthetic state of `--synthetic-mb` MB shaped like an index (small blob
   artifacts plus large segments), in this process: the stop's commit and restore seconds.
bench/durability_bench.py measures what durability costs and kill -9 runs.
Nothing here asserts: read the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from chalicelib.client.transport import exchange  # noqa: E402

BIN = ROOT / ".venv" / "bin"
# Every server started here adopts this admin key (STRATA_API_KEY) and every client sends it;
# its rate limit is off, as the bench polls every 20 ms.
BENCH_KEY = "strata_benchmarkkey_" + "B" * 43
os.environ.update({"STRATA_API_KEY": BENCH_KEY, "STRATA_RATE_PER_SECOND": "0"})
QUERIES = [
    "fenced publish",
    "lease heartbeat",
    "parse batch",
    "visibility timeout",
    "snapshot restore",
    "repository status",
    "worker pump",
    "generation manifest",
    "lexical segment",
    "token vault",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def call(api: str, method: str, path: str, body: object = None) -> tuple[int, Any]:
    """(status, body), or (0, None) while nothing listens yet."""
    try:
        return exchange(api, method, path, body, timeout=30, api_key=BENCH_KEY)
    except OSError:
        return 0, None


def wait_for(check: Any, timeout: float = 120.0) -> float:
    """Seconds until check() is true (polling every 20 ms)."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.02)
    return round(time.perf_counter() - started, 3)


class Server:
    """`strata serve` (or `make run`) as a subprocess on its own port and state directory."""

    def __init__(self, command: list[str], state: Path) -> None:
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "STRATA_PORT": str(self.port), "STRATA_STATE_DIR": str(state)}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
        )

    def healthy_after(self) -> float:
        wait_for(lambda: call(self.api, "GET", "/health")[0] == 200)
        return round(time.perf_counter() - self.started, 3)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:  # the bench failed half way: leave nothing behind
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> tuple[float, str]:
        """SIGTERM the whole session (make and its child); seconds to exit, and its output."""
        started = time.perf_counter()
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=120)
        took = round(time.perf_counter() - started, 3)
        out: IO[str] | None = self.process.stdout
        return took, out.read() if out else ""


def strata_serve() -> list[str]:
    return [str(BIN / "strata"), "serve", "--no-demo"]


def cold_start(tmp: Path) -> dict[str, Any]:
    figures = {}
    for name, command in (
        ("make_run_to_health_s", ["make", "--no-print-directory", "run", "ARGS=--no-demo"]),
        ("strata_serve_to_health_s", strata_serve()),
    ):
        with Server(command, tmp / name) as server:
            figures[name] = server.healthy_after()
            server.stop()
    return figures


def index_through_cli(api: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "strata"), "--api", api, "index", str(ROOT), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    status = json.loads(done.stdout)
    return {
        "repository": status["repositoryId"],
        "wall_s": round(took, 2),
        "files": status["stats"]["totalFiles"],
        "bytes": status["stats"]["totalSize"],
        "chunks": status["stats"]["chunks"],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def query_latency(api: str, rid: str, n: int) -> dict[str, Any]:
    rng = random.Random(7)
    times = []
    for _ in range(n):
        body = {"repositoryId": rid, "query": rng.choice(QUERIES), "k": 10}
        started = time.perf_counter()
        code, _ = call(api, "POST", "/search", body)
        times.append((time.perf_counter() - started) * 1000)
        assert code == 200, code
    return {
        "queries": n,
        "p50_ms": percentile(times, 0.5),
        "p95_ms": percentile(times, 0.95),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def restart(server: Server, state: Path, rid: str) -> dict[str, Any]:
    stop_s, output = server.stop()
    saved = next((line for line in output.splitlines() if line.startswith("Saved ")), "")
    with Server(strata_serve(), state) as again:
        health = again.healthy_after()
        body = {"repositoryId": rid, "query": "fenced publish"}
        answering = wait_for(lambda: call(again.api, "POST", "/search", body)[0] == 200)
        again.stop()
    store = state / "aws"  # the durable state (chalicelib/local/store.py)
    return {
        "sigterm_to_exit_s": stop_s,
        "saved": saved,
        "start_to_health_s": health,
        "start_to_first_search_s": round(health + answering, 3),
        "state_bytes_on_disk": sum(f.stat().st_size for f in store.rglob("*")),
    }


def synthetic_restore(tmp: Path, megabytes: int) -> dict[str, Any]:
    """A snapshot shaped like a large index: 57% small artifacts (~2.3 KB), 43% segments."""
    from chalicelib.local.snapshot import moto_state
    from chalicelib.local.stack import LocalStack, StackOptions

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    state, total = tmp / "synthetic", megabytes * 1024 * 1024
    small, segment = os.urandom(2300), os.urandom(32 * 1024 * 1024)
    with LocalStack(StackOptions(state_dir=state, port=0, workers={})) as stack:
        assert stack.aws is not None
        moto, bucket = moto_state(stack.aws), stack.settings.names.bucket
        artifacts = int(total * 0.57) // len(small)
        for n in range(artifacts):
            moto.put_s3_object(bucket, f"blobs/v1/{n:040x}/python", small)
        for n in range(int(total * 0.43) // len(segment)):
            moto.put_s3_object(bucket, f"repos/local/x/gen/{n:012d}/lexical.seg", segment)
    saved = stack.saved
    assert saved is not None
    disk_bytes = saved.disk_bytes
    started = time.perf_counter()
    with LocalStack(StackOptions(state_dir=state, port=0, workers={})) as again:
        start_s = time.perf_counter() - started
        restored = again.restored
    assert restored is not None
    return {
        "objects": saved.objects,
        "megabytes": round(saved.object_bytes / 2**20, 1),
        "save_s": saved.seconds,
        "restore_s": restored.seconds,
        "stack_start_with_restore_s": round(start_s, 3),
        "snapshot_bytes_on_disk": disk_bytes,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic-mb", type=int, default=300)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="strata-local-bench-"))
    try:
        results: dict[str, Any] = {"cold_start": cold_start(tmp)}
        state = tmp / "main"
        with Server(strata_serve(), state) as server:
            server.healthy_after()
            results["index_strata_via_cli"] = index_through_cli(server.api)
            rid = results["index_strata_via_cli"]["repository"]
            results["search_over_http"] = query_latency(server.api, rid, args.queries)
            results["restart"] = restart(server, state, rid)
        results["synthetic_snapshot"] = synthetic_restore(tmp, args.synthetic_mb)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results" / "local_stack_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
