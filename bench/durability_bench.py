"""What durability costs the local stack, and whether it holds under kill -9 (JSON figures).

    python bench/durability_bench.py [cost|crash|all] [--repo PATH ...] [--rounds 2]
                                     [--queries 100] [--runs 50] [--synthetic-mb 100]

cost: the local stack in this process, durable and not, alternately (`--rounds` each, the
  same repositories, the same run): index wall time (POST /repositories/index to `ready`,
  STRATA_EMBEDDER=none: parsing and storage), then p50/p95 of `--queries` POST /search over
  HTTP, and the commits it took (count, p50/p95 ms, MB written, fsyncs). Repositories: the
  Strata checkout and a git repository made from moto's source tree (a real project of
  ~1,900 files), plus any `--repo`. Then the design question it answered: at the end state
  of a durable run, a commit of the whole state (what a full snapshot per acknowledgement
  would cost) against an incremental commit of one new object, also on a synthetic state of
  `--synthetic-mb` MB shaped like a large index.
crash: `--runs` times, `strata serve` on a fresh state dir indexes a small repository (and, in
  half the runs, a second one requested at a random moment), is killed with SIGKILL at a
  random point of the indexing, and is started again on the same dir (queues' visibility
  timeout 6 s: work in flight at the kill comes back after it, as SQS redelivers after a
  consumer died; `strata serve` defaults to 30 s). Counted: runs whose
  repositories all end `ready` at the right SHA, runs with an `error` (and its message),
  runs stuck (neither within 60 s), and acknowledged index requests lost (the repository
  unknown after the restart).
Written to bench/results/durability_bench.json. Nothing here asserts: read the numbers.
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pygit2
from _env import ROOT

from chalicelib import bootstrap
from chalicelib.client.transport import exchange
from chalicelib.local.snapshot import Capturer, Resources, moto_state
from chalicelib.local.stack import LocalStack, StackOptions
from chalicelib.local.store import StateStore
from chalicelib.settings import Settings

QUERIES = ["fenced publish", "snapshot restore", "worker pump", "lease heartbeat", "queue url"]
SIGNATURE = pygit2.Signature("Strata Bench", "bench@strata.invalid", 1_700_000_000, 0)
BOUND_S = 60.0
# Work in flight at a kill comes back after the queues' visibility timeout, as in SQS; 6 s
# (lease 3 s) instead of `strata serve`'s 30 keeps 50 runs within minutes.
VISIBILITY_S = 6
# Requests are counted against each key's rate (a DynamoDB write each, as deployed) but never
# refused: the bench polls faster than the default 10/s.
RATE_BURST = 1_000_000


def repo_from_tree(source: Path, dest: Path) -> Path:
    """A one-commit git repository of every file under `source` (no __pycache__)."""
    repo = pygit2.init_repository(str(dest), bare=True)
    index = pygit2.Index()
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
            oid = repo.create_blob(path.read_bytes())
            index.add(pygit2.IndexEntry(path.relative_to(source).as_posix(), oid, 0o100644))
    repo.create_commit("refs/heads/main", SIGNATURE, SIGNATURE, "tree", index.write_tree(repo), [])
    repo.set_head("refs/heads/main")
    return dest


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def call(
    api: str, method: str, path: str, body: object = None, key: str | None = None
) -> tuple[int, Any]:
    """(status, body), or (0, None) while nothing listens."""
    try:
        return exchange(api, method, path, body, timeout=30, api_key=key)
    except OSError:
        return 0, None


def admin_key() -> str:
    """A new admin API key in the embedded AWS of the stack running in this process."""
    return bootstrap.key_admin().create_admin(name="durability bench", by="bench")


def wait_finished(api: str, key: str, rid: str, bound: float = BOUND_S) -> dict[str, Any] | None:
    """The status once ready or error; None if neither within `bound` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        code, status = call(api, "GET", f"/repositories/{rid}/status", key=key)
        if code == 200 and status["status"] in ("ready", "error"):
            result: dict[str, Any] = status
            return result
        time.sleep(0.05)
    return None


# -- cost ---------------------------------------------------------------------------------


def stack_options(state: Path, durable: bool, repo: Path) -> StackOptions:
    settings = Settings(
        resource_prefix="bench",
        embedder="none",
        local_roots=(str(repo.resolve().parent),),
        rate_burst=RATE_BURST,
    )
    return StackOptions(state_dir=state, port=0, settings=settings, durable=durable)


def one_run(repo: Path, tmp: Path, durable: bool, queries: int) -> dict[str, Any]:
    state = tmp / f"state-{'on' if durable else 'off'}"
    shutil.rmtree(state, ignore_errors=True)
    with LocalStack(stack_options(state, durable, repo)) as stack:
        key = admin_key()
        started = time.perf_counter()
        body = {"url": str(repo)}
        code, body = call(stack.api_url, "POST", "/repositories/index", body, key)
        assert code == 200, body
        status = wait_finished(stack.api_url, key, body["repositoryId"], 1800)
        assert status is not None and status["status"] == "ready", status
        index_s = time.perf_counter() - started
        began = time.perf_counter()  # the first query loads the generation: timed apart
        warm = {"repositoryId": body["repositoryId"], "query": QUERIES[0]}
        assert call(stack.api_url, "POST", "/search", warm, key)[0] == 200
        first_ms = (time.perf_counter() - began) * 1000
        times = []
        rng = random.Random(7)
        for _ in range(queries):
            query = {"repositoryId": body["repositoryId"], "query": rng.choice(QUERIES)}
            began = time.perf_counter()
            assert call(stack.api_url, "POST", "/search", query, key)[0] == 200
            times.append((time.perf_counter() - began) * 1000)
        assert stack.durable_state is not None
        figures = stack.durable_state.figures()
        alternatives = commit_alternatives(stack, tmp) if durable else None
    return {
        "index_s": round(index_s, 2),
        "files": status["stats"]["totalFiles"],
        "first_search_ms": round(first_ms, 1),
        "search_p50_ms": percentile(times, 0.5),
        "search_p95_ms": percentile(times, 0.95),
        "commits": figures,
        "alternatives": alternatives,
    }


def commit_alternatives(stack: LocalStack, tmp: Path) -> dict[str, Any]:
    """A whole-state commit (a full snapshot) against an incremental one, on this state."""
    assert stack.aws is not None and stack.durable_state is not None
    state = stack.durable_state
    scratch = tmp / "full"
    full = []
    for _ in range(3):
        shutil.rmtree(scratch, ignore_errors=True)
        capturer = Capturer(moto_state(stack.aws), Resources.of(stack.settings))
        began = time.perf_counter()
        StateStore(scratch).commit(capturer.capture(state.gate, everything=True).changes)
        full.append((time.perf_counter() - began) * 1000)
    s3, bucket = stack.aws.s3, stack.settings.names.bucket
    state.commit()  # what is not on disk yet (a synthetic state was put behind the API's back)
    incremental = []
    for n in range(20):
        s3.put_object(Bucket=bucket, Key=f"jobs/bench/{n}", Body=os.urandom(2300))
        began = time.perf_counter()
        state.commit()
        incremental.append((time.perf_counter() - began) * 1000)
    return {
        "objects": state.store.object_count,
        "object_mb": round(state.store.object_bytes / 2**20, 1),
        "full_commit_ms": round(statistics.median(full), 1),
        "incremental_commit_p50_ms": percentile(incremental, 0.5),
        "incremental_commit_p95_ms": percentile(incremental, 0.95),
    }


def synthetic_alternatives(tmp: Path, megabytes: int) -> dict[str, Any]:
    """The same comparison on a large index: ~2.3 KB artifacts and 32 MB segments."""
    total, small, segment = megabytes * 2**20, os.urandom(2300), os.urandom(32 * 2**20)
    state_dir = tmp / "synthetic"
    with LocalStack(StackOptions(state_dir=state_dir, port=0, workers={})) as stack:
        assert stack.aws is not None and stack.durable_state is not None
        moto, bucket = moto_state(stack.aws), stack.settings.names.bucket
        for n in range(int(total * 0.57) // len(small)):
            moto.put_s3_object(bucket, f"blobs/v1/{n:040x}/python", small)
        for n in range(int(total * 0.43) // len(segment)):
            moto.put_s3_object(bucket, f"repos/local/x/gen/{n:012d}/lexical.seg", segment)
        figures = commit_alternatives(stack, tmp)
    restart = time.perf_counter()
    with LocalStack(StackOptions(state_dir=state_dir, port=0, workers={})) as again:
        restored = again.restored
    assert restored is not None
    return {
        **figures,
        "restore_s": restored.seconds,
        "restart_s": round(time.perf_counter() - restart, 2),
    }


def cost(repos: dict[str, Path], tmp: Path, rounds: int, queries: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, repo in repos.items():
        runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for n in range(rounds):
            for durable in (True, False) if n % 2 == 0 else (False, True):
                runs[durable].append(one_run(repo, tmp, durable, queries))
                mode = "durable" if durable else "off"
                print(label, mode, runs[durable][-1]["index_s"], file=sys.stderr)
        results[label] = summarize(runs)
    return results


def summarize(runs: dict[bool, list[dict[str, Any]]]) -> dict[str, Any]:
    def side(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "index_s": [r["index_s"] for r in rows],
            "index_s_median": round(statistics.median(r["index_s"] for r in rows), 2),
            "first_search_ms": round(statistics.median(r["first_search_ms"] for r in rows), 1),
            "search_p50_ms": round(statistics.median(r["search_p50_ms"] for r in rows), 2),
            "search_p95_ms": round(statistics.median(r["search_p95_ms"] for r in rows), 2),
        }

    on, off = side(runs[True]), side(runs[False])
    return {
        "files": runs[True][0]["files"],
        "durable": {**on, "commits": runs[True][-1]["commits"]},
        "off": off,
        "ratio_durable_over_off": {
            k: round(on[k] / off[k], 3)
            for k in ("index_s_median", "search_p50_ms", "search_p95_ms")
        },
        "full_vs_incremental_commit": runs[True][-1]["alternatives"],
    }


# -- crash --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Serve:
    """`strata serve --no-demo` with STRATA_EMBEDDER=none on a free port."""

    def __init__(self, state: Path) -> None:
        self.api = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "STRATA_EMBEDDER": "none",
            "STRATA_RATE_BURST": str(RATE_BURST),
            "STRATA_LOCAL_ROOTS": str(state.parent),  # where the repositories are
            "STRATA_STATE_DIR": str(state),
            "STRATA_PORT": self.api.rsplit(":", 1)[1],
            "STRATA_AWS_PORT": "0",
        }
        command = [sys.executable, "-m", "chalicelib.local.cli", "serve", "--no-demo"]
        command += ["--visibility-timeout", str(VISIBILITY_S)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self._wait_listening()
        self.key = (state / "api-key").read_text().strip()  # the admin key serve made

    def _wait_listening(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("Strata API on "):
                return
        raise RuntimeError(f"strata serve exited with {self.process.wait()} before listening")

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        return call(self.api, method, path, body, self.key)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._close_output()

    def _close_output(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(BOUND_S)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_output()


def small_repo(dest: Path, name: str, files: int = 40) -> tuple[Path, str]:
    source = dest.with_name(dest.name + "-src")
    for n in range(files):
        path = source / name / f"module_{n:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "\n".join(f"def {name}_{n}_{k}(x):\n    return x * {k}\n" for k in range(30))
        )
    repo_from_tree(source, dest)
    return dest, str(pygit2.Repository(str(dest)).head.target)


def crash_run(
    n: int, tmp: Path, repos: dict[str, tuple[Path, str]], ready_s: float
) -> dict[str, Any]:
    rng = random.Random(n)
    state = tmp / f"crash-{n}"
    kill_after = rng.uniform(0, ready_s * 1.2)
    second_at = rng.uniform(0, kill_after) if rng.random() < 0.5 else None
    acked: dict[str, str] = {}  # repository id -> expected SHA
    refused: list[str] = []
    server = Serve(state)
    try:
        began = time.monotonic()
        for name, at in (("alpha", 0.0), ("beta", second_at)):
            if at is None:
                continue
            time.sleep(max(0.0, began + at - time.monotonic()))
            code, body = server.call("POST", "/repositories/index", {"url": str(repos[name][0])})
            if code in (200, 202):
                acked[body["repositoryId"]] = repos[name][1]
            else:  # not acknowledged: nothing is owed, but say why
                refused.append(f"{code} {(body or {}).get('error', {}).get('code')}")
        time.sleep(max(0.0, began + kill_after - time.monotonic()))
    finally:
        server.kill()
    again = Serve(state)
    try:
        outcome: dict[str, Any] = {
            "run": n,
            "kill_after_s": round(kill_after, 3),
            "acked": len(acked),
            "refused": refused,
        }
        lost = errors = stuck = wrong = 0
        messages = []
        for rid, sha in acked.items():
            code, first = again.call("GET", f"/repositories/{rid}/status")
            if code != 200 or first["status"] == "idle":
                lost += 1
                continue
            status = wait_finished(again.api, again.key, rid)
            if status is None:
                stuck += 1
            elif status["status"] == "error":
                errors += 1
                messages.append(status.get("error"))
            elif status["indexedSha"] != sha:
                wrong += 1
        outcome.update(lost=lost, errors=errors, stuck=stuck, wrong_sha=wrong, messages=messages)
        outcome["ready"] = bool(acked) and not (lost or errors or stuck or wrong)
        return outcome
    finally:
        again.stop()
        shutil.rmtree(state, ignore_errors=True)


def crash(tmp: Path, runs: int) -> dict[str, Any]:
    repos = {name: small_repo(tmp / f"{name}.git", name) for name in ("alpha", "beta")}
    server = Serve(tmp / "calibrate")  # how long an undisturbed index takes
    try:
        began = time.monotonic()
        body = server.call("POST", "/repositories/index", {"url": str(repos["alpha"][0])})[1]
        wait_finished(server.api, server.key, body["repositoryId"])
        ready_s = time.monotonic() - began
    finally:
        server.stop()
    rows = []
    for n in range(runs):
        rows.append(crash_run(n, tmp, repos, ready_s))
        print(json.dumps(rows[-1]), file=sys.stderr)
    return {
        "runs": runs,
        "undisturbed_index_s": round(ready_s, 2),
        "ready": sum(r["ready"] for r in rows),
        "no_acknowledged_request": sum(1 for r in rows if not r["acked"]),
        "refused_requests": sorted({x for r in rows for x in r["refused"]}),
        "error": sum(1 for r in rows if r["errors"]),
        "stuck": sum(1 for r in rows if r["stuck"]),
        "wrong_sha": sum(1 for r in rows if r["wrong_sha"]),
        "acknowledged_requests": sum(r["acked"] for r in rows),
        "acknowledged_requests_lost": sum(r["lost"] for r in rows),
        "error_messages": sorted({m for r in rows for m in r["messages"] if m}),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", nargs="?", choices=("cost", "crash", "all"), default="all")
    parser.add_argument("--repo", type=Path, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--synthetic-mb", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="strata-durability-bench-"))
    out = ROOT / "bench" / "results" / "durability_bench.json"
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    try:
        if args.part in ("cost", "all"):
            import moto

            moto_tree = repo_from_tree(Path(moto.__file__).parent, tmp / "moto.git")
            repos = {"strata": ROOT, "moto-source": moto_tree}
            repos.update({p.name: p for p in args.repo})
            results["cost"] = cost(repos, tmp, args.rounds, args.queries)
            results["cost"]["synthetic"] = synthetic_alternatives(tmp, args.synthetic_mb)
        if args.part in ("crash", "all"):
            results["crash"] = crash(tmp, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
