"""Build-level checks: a full build of a tree, then a re-check after a one-file change, and a
re-check with no change, in the same run, through the real check services (CheckRequests,
CheckRunner, content-addressed results) and the real SubprocessToolchain. Stores are the
in-memory fakes of tests/fakes and git a dictionary, so the figures are the checks' own:
planning, staging, tool runs, and the lookups that make the re-check cheap.

    python bench/check_build_bench.py                # strata@HEAD, black, a synthetic C tree
    python bench/check_bench.py                      # syntax throughput, then this

Figures per corpus: files, units, wall seconds and tool runs of the full build, of the
re-check after changing one file (for C: a leaf file, then a header half the tree includes),
and of the re-check with nothing changed. Wall time (tools are child processes). Results go
to bench/results/check_build_bench.json. Nothing here asserts.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _env  # noqa: F401  (repository on sys.path)

from chalicelib.adapters.subprocess_toolchain import SubprocessToolchain
from chalicelib.domain.build_units import CODE_LANGUAGES, TOOL_FOR_LANGUAGE
from chalicelib.domain.identity import ADMIN_TENANT, Caller, Scope
from chalicelib.domain.languages import language_for
from chalicelib.domain.models import Repository, TreeEntry
from chalicelib.domain.verification import git_blob_oid
from chalicelib.services.check_requests import CheckRequest, CheckRequests
from chalicelib.services.check_runner import CheckConfig, CheckRunner
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.settings import Settings
from tests.fakes.aws import FakeBlobStore, FakeClock, FakeTokenVault, FakeWorkQueue
from tests.fakes.checks import FakeCheckStore
from tests.fakes.stores import FakeJobStore, FakeLockManager, FakeRepoStore

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "check_build_bench.json"
REMOTE = "bench://tree"
RID = "github:bench:tree"
ADMIN = Caller("benchkey0001", ADMIN_TENANT, Scope.ADMIN)


class DictGit:
    """Commits as path -> bytes maps; blobs by oid (no history, no network)."""

    def __init__(self) -> None:
        self.commits: dict[str, dict[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}

    def commit(self, files: Mapping[str, bytes]) -> str:
        for data in files.values():
            self.blobs[git_blob_oid(data)] = data
        listing = "\n".join(f"{p}\0{git_blob_oid(d)}" for p, d in sorted(files.items()))
        sha = hashlib.sha1(listing.encode(), usedforsecurity=False).hexdigest()
        self.commits[sha] = dict(files)
        return sha

    def fetch(self, remote: str, branch: str, sha: str, credentials: Sequence[str | None]) -> None:
        assert sha in self.commits

    def list_tree(self, remote: str, sha: str) -> Iterator[TreeEntry]:
        files = self.commits[sha]
        return iter(
            [TreeEntry(p, git_blob_oid(d), 0o100644, len(d)) for p, d in sorted(files.items())]
        )

    def read_blob(self, remote: str, oid: str) -> bytes:
        return self.blobs[oid]


@dataclass
class Bench:
    toolchain: SubprocessToolchain
    git: DictGit = field(default_factory=DictGit)
    blobs: FakeBlobStore = field(default_factory=FakeBlobStore)
    queue: FakeWorkQueue = field(default_factory=FakeWorkQueue)
    checks: FakeCheckStore = field(default_factory=FakeCheckStore)
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.locks = FakeLockManager()
        self.repos = FakeRepoStore(self.locks)
        ports = IndexPorts(
            git=self.git, blobs=self.blobs, queue=self.queue, repos=self.repos,  # type: ignore[arg-type]
            locks=self.locks, jobs=FakeJobStore(), vault=FakeTokenVault(), clock=self.clock,
        )  # fmt: skip
        self.runner = CheckRunner(
            ports=ports, config=IndexConfig(), checks=self.checks, toolchain=self.toolchain,
            settings=CheckConfig(batch_units=32),
        )  # fmt: skip
        self.requests = CheckRequests(
            repos=self.repos, checks=self.checks, blobs=self.blobs, queue=self.queue,
            clock=self.clock, caller=ADMIN,
        )  # fmt: skip

    def build(self, files: Mapping[str, bytes]) -> dict[str, float]:
        sha = self.git.commit(files)
        repo = Repository(id=RID, remote=REMOTE, branch="main")
        self.repos.record_request(repo, sha=sha, branch="main", force=False, now=self.clock.now())
        self.clock.advance(1)
        started = time.perf_counter()
        made = self.requests.request(RID, CheckRequest(level="build", sha=sha))
        while self.queue.pending:
            msg = self.queue.pending.popleft()
            self.runner.handle(msg, msg.queue)
        seconds = time.perf_counter() - started
        check = self.requests.get(RID, made.check_id).check
        c = check.counts
        return {
            "status": str(check.status.value),
            "seconds": round(seconds, 3),
            "units": c["units"],
            "tool_runs": c["tool_runs"],
            "reused": c["reused"],
            "errors": c["errors"],
        }  # type: ignore[dict-item]


def head_files(max_files: int) -> dict[str, bytes]:
    """This repository's buildable files at HEAD (git cat-file: uncommitted edits do not count)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    paths = [p.decode() for p in listed if p and _buildable(p.decode())][:max_files]
    return {
        p: subprocess.run(
            ["git", "show", f"HEAD:{p}"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        for p in paths
    }


def tree_files(root: Path, max_files: int) -> dict[str, bytes]:
    paths = sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
    chosen = [p for p in paths if _buildable(str(p.relative_to(root)))][:max_files]
    return {str(p.relative_to(root)): p.read_bytes() for p in chosen}


def _buildable(path: str) -> bool:
    language = language_for(path)
    return language in CODE_LANGUAGES and language in TOOL_FOR_LANGUAGE


def synthetic_c(units: int = 120) -> dict[str, bytes]:
    """`units` C files in src/, each including its own header and, for every second one, a
    shared header that includes a base header."""
    files = {
        "include/base.h": b"#pragma once\ntypedef int count_t;\n",
        "include/shared.h": b'#pragma once\n#include "base.h"\ncount_t shared(count_t n);\n',
    }
    for i in range(units):
        files[f"src/m{i}.h"] = f"#pragma once\nint m{i}(int x);\n".encode()
        shared = '#include "shared.h"\n' if i % 2 == 0 else ""
        body = f'#include "m{i}.h"\n{shared}int m{i}(int x) {{ return x * {i} + 1; }}\n'
        files[f"src/m{i}.c"] = body.encode()
    return files


def scenario(name: str, files: dict[str, bytes], changes: dict[str, str]) -> dict[str, object]:
    """Full build, each one-file change (on the original tree), then no change, one bench."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.from_env()
        toolchain = SubprocessToolchain(
            scratch_dir=scratch, path=settings.check_path, probe_env=settings.toolchain_env
        )
        bench = Bench(toolchain)
        row: dict[str, object] = {"files": len(files), "tools": sorted(toolchain.versions())}
        row["full"] = bench.build(files)
        for label, path in changes.items():
            changed = dict(files)
            changed[path] = (
                files[path] + b"\n/* changed */\n"
                if path.endswith((".c", ".h"))
                else files[path] + b"\n# changed\n"
            )
            row[f"one_file:{label}"] = bench.build(changed)
        row["unchanged"] = bench.build(files)
    print(f"{name}: {json.dumps(row)}")
    return row


def corpora(max_files: int) -> dict[str, tuple[dict[str, bytes], dict[str, str]]]:
    out: dict[str, tuple[dict[str, bytes], dict[str, str]]] = {}
    head = head_files(max_files)
    if head:
        leaf = next(p for p in sorted(head) if p.endswith(".py"))
        out["strata@HEAD"] = (head, {leaf: leaf})
    black = Path("/work/eval-repos/black")
    if black.is_dir():
        tree = tree_files(black, max_files)
        leaf = next(p for p in sorted(tree) if p.endswith(".py"))
        out["black"] = (tree, {leaf: leaf})
    out["synthetic-c"] = (
        synthetic_c(),
        {"leaf src/m1.c": "src/m1.c", "header include/base.h": "include/base.h"},
    )
    return out


def main(max_files: int = 400) -> dict[str, object]:
    results = {
        name: scenario(name, files, changes)
        for name, (files, changes) in corpora(max_files).items()
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)} (cores: {os.cpu_count()})")
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-files", type=int, default=400, help="files per corpus")
    main(parser.parse_args().max_files)
