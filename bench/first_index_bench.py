"""A first index on the local stack: wall time, CPU over every core, and S3 calls, for the code
as it was and as it is, in one run (compare the ratios: other work may share the machine).

    python bench/first_index_bench.py                   # pytest's mirror if fetched, else Strata
    python bench/first_index_bench.py --repo PATH       # any local git repository's HEAD tree
    python bench/first_index_bench.py --rounds 2        # alternate the variants, twice
    python bench/first_index_bench.py --before DIR      # "before" from a checkout of your own

Variants, each a fresh process and a fresh durable `LocalStack` (embedder "none"):
- before: the code at git HEAD (`git archive HEAD` into a temporary directory, unless
  --before names a checkout), which parses in the pump's threads;
- threads: this tree with every handler in threads (`StackOptions.processes={}`);
- processes: this tree as `strata serve` runs it (parse invocations in worker processes,
  spawned before the index is requested; --processes sets other queues or counts).

Per variant: seconds from the index request to `ready`, CPU seconds (user+sys) of the stack's
process and its worker processes over that time, utilisation = CPU / (wall x cores), and the
requests moto's server answered, S3 ones by method and key prefix (counted in moto's WSGI app,
so a worker process's calls count too). Results go to bench/results/first_index_bench.json.
Nothing here asserts: read the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTEST_MIRROR = Path("/work/.mirror/pytest-dev+pytest/repo")
RESULTS = ROOT / "bench" / "results" / "first_index_bench.json"
KEY = "strata_benchmarkkey_" + "F" * 43
TICKS = os.sysconf("SC_CLK_TCK")


def child_cpu_seconds() -> float:
    """user+sys seconds of this process's live children (worker processes), from /proc."""
    total = 0
    pids: set[str] = set()
    for task in Path("/proc/self/task").iterdir():
        try:  # a thread may end meanwhile
            pids.update((task / "children").read_text().split())
        except FileNotFoundError:
            continue
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime + child_cpu_seconds()


class S3Counter:
    """WSGI middleware over moto's app: counts requests, S3 ones by method and key prefix."""

    def __init__(self) -> None:
        self.bucket = ""
        self.requests = 0
        self.s3: Counter[str] = Counter()

    def wrap(self, app: Any) -> Any:
        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            self.requests += 1
            path = environ.get("PATH_INFO", "")
            if self.bucket and path.startswith(f"/{self.bucket}/"):
                key = path[len(self.bucket) + 2 :]
                self.s3[f"{environ['REQUEST_METHOD']} {key.split('/', 1)[0]}/"] += 1
            elif self.bucket and path.rstrip("/") == f"/{self.bucket}":
                self.s3[f"{environ['REQUEST_METHOD']} (bucket)"] += 1
            return app(environ, start_response)

        return counted


def measure(tree: Path, repo: Path, processes: dict[str, int] | None) -> dict[str, Any]:
    """One first index in this process, with `tree`'s code (run as a child of main())."""
    sys.path.insert(0, str(tree))
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "STRATA_API_KEY": KEY}
    )
    import chalicelib.local.stack as stack_module
    from chalicelib.client.transport import exchange
    from chalicelib.local.admin_key import provide_admin_key
    from chalicelib.settings import Settings

    assert Path(stack_module.__file__).is_relative_to(tree), stack_module.__file__
    counter = S3Counter()
    embedded = stack_module.embedded_aws

    def counting(*args: Any, wrap: Any = None, **kwargs: Any) -> Any:
        return embedded(*args, wrap=lambda app: counter.wrap(wrap(app) if wrap else app), **kwargs)

    stack_module.embedded_aws = counting  # type: ignore[assignment]
    extra = {} if processes is None else {"processes": processes}
    with tempfile.TemporaryDirectory(prefix="strata-first-index-") as tmp:
        settings = Settings(
            resource_prefix="bench-first",
            embedder="none",
            local_roots=(str(repo.parent), tmp),
            rate_burst=1_000_000,
        )
        options = stack_module.StackOptions(
            state_dir=Path(tmp) / "state", port=0, settings=settings, **extra
        )
        with stack_module.LocalStack(options) as stack:
            provide_admin_key(options.state_dir, KEY)
            # As `strata serve` has them by the time a user asks: worker processes up.
            if hasattr(stack, "wait_for_workers"):
                stack.wait_for_workers()
            counter.bucket = stack.settings.names.bucket
            api = stack.api_url
            assert stack.aws is not None

            def call(method: str, path: str, body: object = None) -> Any:
                code, answer = exchange(api, method, path, body, timeout=60, api_key=KEY)
                assert code == 200, (code, answer)
                return answer

            first = index(call, counter, repo)
            fork = Path(tmp) / f"{repo.name}-fork"  # the same blobs at another path
            shutil.copytree(repo, fork)
            again = index(call, counter, fork)
            stored = bucket_bytes(stack.aws.s3, counter.bucket)
    return first | {
        "stored_bytes": stored,
        "fork_of_same_tree": {k: again[k] for k in ("status", "wall_s", "s3_calls")}
        | {"s3_by_method_and_prefix": again["s3_by_method_and_prefix"]},
    }


def index(call: Any, counter: S3Counter, repo: Path) -> dict[str, Any]:
    """Request an index of `repo` and wait for it; what it cost."""
    requests_before, s3_before = counter.requests, Counter(counter.s3)
    load = os.getloadavg()[0]
    cpu, started = cpu_seconds(), time.perf_counter()
    rid = call("POST", "/repositories/index", {"url": str(repo)})["repositoryId"]
    timeline: list[tuple[float, str, int]] = []
    while True:
        status = call("GET", f"/repositories/{rid}/status")
        point = (status["status"], (status.get("progress") or {}).get("filesProcessed", 0))
        if not timeline or timeline[-1][1:] != point:
            timeline.append((round(time.perf_counter() - started, 2), *point))
        if status["status"] in ("ready", "error"):
            break
        time.sleep(0.2)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    s3 = counter.s3 - s3_before
    cores = os.cpu_count() or 1
    return {
        "status": status["status"],
        "error": status.get("error"),
        "files": status["stats"]["totalFiles"],
        "bytes": status["stats"]["totalSize"],
        "chunks": status["stats"]["chunks"],
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cpu_utilisation": round(cpu / wall / cores, 2),
        "cores": cores,
        "load_average_1m_before": round(load, 2),
        "moto_requests": counter.requests - requests_before,
        "s3_calls": sum(s3.values()),
        "s3_by_method_and_prefix": dict(sorted(s3.items())),
        "timeline_s_status_files": timeline,
    }


def bucket_bytes(s3: Any, bucket: str) -> dict[str, int]:
    """Bytes stored per top-level prefix (blobs/ split into artifacts and bundles)."""
    sizes: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            top = o["Key"].split("/", 1)[0] + "/"
            sizes["blobs/*/bundles/" if "/bundles/" in o["Key"] else top] += o["Size"]
    return dict(sorted(sizes.items()))


def snapshot(repo: Path, tmp: Path) -> Path:
    """A one-commit repository of `repo`'s HEAD tree (a fetched mirror may lack history)."""
    work = tmp / f"{repo.parent.name if repo.name in ('repo', '.git') else repo.name}-snapshot"
    work.mkdir()
    archive = subprocess.run(
        ["git", f"--git-dir={git_dir(repo)}", "archive", "HEAD"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive.stdout, check=True)
    git = ["git", "-C", str(work), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    return work


def git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo


def before_tree(given: str | None, tmp: Path) -> Path:
    if given:
        return Path(given).resolve()
    tree = tmp / "before"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def run_variant(tree: Path, repo: Path, processes: dict[str, int] | None) -> dict[str, Any]:
    spec = json.dumps({"tree": str(tree), "repo": str(repo), "processes": processes})
    done = subprocess.run(
        [sys.executable, __file__, "--measure", spec],
        cwd=tree,
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {tree} variant failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", help="a local git repository (default: pytest's mirror)")
    parser.add_argument("--before", help="a checkout of the code to compare with")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--processes", help='the processes variant\'s StackOptions.processes, e.g. {"parse": 2}'
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        spec = json.loads(args.measure)
        result = measure(Path(spec["tree"]), Path(spec["repo"]), spec["processes"])
        print(json.dumps(result))
        return
    repo = Path(args.repo).resolve() if args.repo else None
    if repo is None:
        repo = PYTEST_MIRROR if PYTEST_MIRROR.is_dir() else ROOT
    with tempfile.TemporaryDirectory(prefix="strata-first-index-bench-") as tmp:
        before = before_tree(args.before, Path(tmp))
        source, repo = repo, snapshot(repo, Path(tmp))
        pooled = json.loads(args.processes) if args.processes else None
        variants = {"before": (before, None), "threads": (ROOT, {}), "processes": (ROOT, pooled)}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (tree, processes) in variants.items():
                runs[name].append(run_variant(tree, repo, processes))
                print(name, json.dumps(runs[name][-1]), flush=True)
    best = {name: min(rs, key=lambda r: r["wall_s"]) for name, rs in runs.items()}
    b, t, p = best["before"], best["threads"], best["processes"]
    report = {
        "repository": str(source),
        "rounds": args.rounds,
        "runs": runs,
        "best_wall": best,
        "ratios": {
            "wall_before_over_processes": ratio(b["wall_s"], p["wall_s"]),
            "wall_before_over_threads": ratio(b["wall_s"], t["wall_s"]),
            "wall_threads_over_processes": ratio(t["wall_s"], p["wall_s"]),
            "s3_calls_before_over_after": ratio(b["s3_calls"], p["s3_calls"]),
            "moto_requests_before_over_after": ratio(b["moto_requests"], p["moto_requests"]),
        },
    }
    print(json.dumps(report["ratios"], indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
