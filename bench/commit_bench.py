"""Commit latency: one-file commits through the commit service, on a local bare remote.

    python bench/commit_bench.py                # 40 commits, then 40 with the syntax check
    python bench/commit_bench.py --commits 100

The service is composed as a deployment composes it (bootstrap: the DynamoDB lease and
Idempotency-Key table, the SQS index request, the pygit2 engine and its bare-clone cache),
on moto in this process, so the figures include moto's DynamoDB and SQS calls as the local
stack pays them. Each commit changes one file on the branch head (the previous commit), with
its own Idempotency-Key: claim, lease, ls-remote, fetch (nothing new), build the tree, note the
plan, fence, push (a ref transaction in the remote), index request, answer, release. The first
commit (cold git cache: a full fetch) is reported apart; then p50, p95, mean and min in ms,
for plain commits and for commits whose file goes through the syntax check first. The
remote holds this repository's tree at HEAD, so the fetch and the tree copy have real sizes.
Results also go to bench/results/commit_bench.json. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import _env  # noqa: F401  (repository on sys.path, fake AWS credentials)
import pygit2
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.domain.commits import Author, RawChange
from chalicelib.domain.identity import ADMIN_TENANT, Caller, Scope
from chalicelib.local.provision import provision
from chalicelib.services.commits import CommitAsk
from chalicelib.services.index_requests import IndexTarget
from chalicelib.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "commit_bench.json"
CALLER = Caller("benchkey0001", ADMIN_TENANT, Scope.ADMIN)
AUTHOR = Author("Bench", "bench@example.com")


def bare_copy_of_head(into: Path) -> Path:
    """A bare clone of this repository's HEAD (its tree, one branch)."""
    remote = into / "strata.git"
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", "--single-branch", str(ROOT), str(remote)],
        check=True,
    )
    return remote


def head(remote: Path, branch: str) -> str:
    return str(pygit2.Repository(str(remote)).references[f"refs/heads/{branch}"].target)


def commit_once(rid: str, remote: Path, branch: str, n: int, check: str | None) -> float:
    ask = CommitAsk(
        branch=branch,
        base_sha=head(remote, branch),
        message=f"bench commit {n}",
        author=AUTHOR,
        changes=[RawChange("bench/touched.py", f"N = {n}\n")],
        check=check,
    )
    started = time.perf_counter()
    answer = bootstrap.commits(CALLER).commit(rid, ask, f"bench-{check}-{n}")
    took = time.perf_counter() - started
    assert answer.outcome.sha == head(remote, branch), answer.outcome
    return took * 1000


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "commits": len(ms),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "mean_ms": round(statistics.fmean(ordered), 1),
        "min_ms": round(ordered[0], 1),
    }


def run(commits: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        work = Path(tmp)
        remote = bare_copy_of_head(work)
        branch = pygit2.Repository(str(remote)).head.shorthand
        settings = Settings(
            resource_prefix="bench-commits",
            allow_local_paths=True,
            local_roots=(str(work),),
            git_cache_dir=str(work / "git-cache"),
            embedder="none",
            answerer="extractive",
        )
        provision(settings)
        bootstrap.configure(settings)
        try:
            outcome = bootstrap.index_requests(CALLER).request(IndexTarget(url=str(remote)), CALLER)
            rid = outcome.repository.id
            first = commit_once(rid, remote, branch, 0, None)
            plain = [commit_once(rid, remote, branch, n, None) for n in range(1, commits + 1)]
            offset = commits + 1
            checked = [
                commit_once(rid, remote, branch, offset + n, "syntax") for n in range(commits)
            ]
        finally:
            bootstrap.reset()
        listed = subprocess.run(
            ["git", "-C", str(remote), "ls-tree", "-r", "--name-only", branch],
            capture_output=True,
            check=True,
        ).stdout
        return {
            "remote": "local bare repository (this repository's HEAD)",
            "files": len(listed.splitlines()),
            "first_commit_cold_cache_ms": round(first, 1),
            "one_file": summary(plain),
            "one_file_syntax_checked": summary(checked),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=40)
    args = parser.parse_args()
    result = run(args.commits)
    text = json.dumps(result, indent=2)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
