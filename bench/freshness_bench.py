"""Freshness on the local stack: a real repository's history replayed push by push through
the signed GitHub webhook, printed as JSON and a table, written to
bench/results/freshness_bench.json.

    .venv/bin/python bench/freshness_bench.py [--source /tmp/pytest-src] [--commits 100]
                                              [--max-minutes 30]

Setup: the last N+1 first-parent commits of `--source`'s HEAD; a bare repository in a temp
directory gets the oldest as `main`; it is registered as `github:bench:pytest` with that
path as its remote (through `IndexRequests.request_at`, as tests/e2e/test_webhooks.py does:
the API cannot register a github id with a local remote) and indexed fully, timed from the
request to status `ready` at that SHA. Then, per commit: `git push` it to the bare
repository's main, send a signed `push` webhook over HTTP, poll the status every 50 ms until
`indexedSha` is the pushed SHA (push->queryable), then poll POST /search until it answers at
that SHA. Per push: latency, files changed, blobs parsed, delta or compaction (from the new
manifest in S3), bytes of new S3 objects (job staging under `jobs/` is transient and not
counted) and the index time from the events (IndexStarted -> GenerationPublished; note that
IndexStarted is recorded after the fetch and the plan, so IndexRequested -> Published is
given too). At the end: a forced re-index (POST /repositories/index {repositoryId, force};
the tree is unchanged, so it reuses every artifact and segment), a second full generation
of the final commit registered by path (artifacts are keyed by content, so that one parses
nothing: a full build from warm artifacts), and a cold full index of the final commit in a
fresh stack (the second full-time sample). With `--embedder minilm` the local model embeds
every chunk of the full index and the changed chunks of each push (chunks embedded per push
vs full, from the generation's stats); the default `none` keeps the model out of the timings.
Stops starting pushes after `--max-minutes`. Nothing here asserts: read the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import boto3
from _env import ROOT

from chalicelib import bootstrap
from chalicelib.client.transport import exchange, repository_path
from chalicelib.domain.codecs import decode_manifest
from chalicelib.domain.models import Repository
from chalicelib.domain.webhook_signatures import sign
from chalicelib.local.admin_key import provide_admin_key
from chalicelib.local.stack import LocalStack, StackOptions
from chalicelib.settings import Settings

RID = "github:bench:pytest"
FULL_NAME = "bench/pytest"
RESULTS = ROOT / "bench" / "results" / "freshness_bench.json"
POLL_SECONDS = 0.05
PUSH_TIMEOUT_SECONDS = 300.0
FULL_TIMEOUT_SECONDS = 1800.0
SEARCH_TIMEOUT_SECONDS = 15.0
SEARCH_QUERY = "fixture"
EMBEDDER = ["none"]  # --embedder
KEYS: dict[str, str] = {}  # api_url -> the stack's admin key


# --- git ------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


def history(source: Path, commits: int) -> list[str]:
    """The last `commits` + 1 first-parent commits of HEAD, oldest first."""
    out = git(source, "rev-list", "--first-parent", f"--max-count={commits + 1}", "HEAD")
    return list(reversed(out.split()))


def push_to(source: Path, bare: Path, sha: str) -> float:
    started = time.perf_counter()
    git(source, "push", "--quiet", "--force", str(bare), f"{sha}:refs/heads/main")
    return time.perf_counter() - started


def diff_counts(source: Path, before: str, after: str) -> tuple[int, int]:
    """(files changed, files added or modified) between two commits, renames as delete+add."""
    lines = git(source, "diff", "--no-renames", "--name-status", before, after).splitlines()
    written = sum(1 for line in lines if line and line[0] != "D")
    return len(lines), written


# --- HTTP and the embedded AWS ----------------------------------------------------------------


def api(stack: LocalStack, method: str, path: str, body: object = None) -> tuple[int, Any]:
    return exchange(stack.api_url, method, path, body, timeout=60, api_key=KEYS[stack.api_url])


def status_of(stack: LocalStack, rid: str = RID) -> dict[str, Any]:
    code, body = api(stack, "GET", repository_path(rid, "/status"))
    if code != 200:
        raise RuntimeError(f"status answered {code}: {body}")
    result: dict[str, Any] = body
    return result


def events_of(stack: LocalStack, rid: str = RID) -> list[dict[str, Any]]:
    """The newest events (one page of 100 covers several pushes)."""
    code, body = api(stack, "GET", repository_path(rid, "/events?limit=100"))
    if code != 200:
        raise RuntimeError(f"events answered {code}: {body}")
    found: list[dict[str, Any]] = body["events"]
    return found


def webhook_secret(stack: LocalStack) -> str:
    """The deployment's default webhook secret, as provisioning generated it."""
    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=stack.aws_url)
    doc = json.loads(
        client.get_secret_value(SecretId=stack.settings.names.webhook_secret)["SecretString"]
    )
    default = doc["default"]
    return str(default[0] if isinstance(default, list) else default)


def push_payload(before: str, after: str) -> dict[str, Any]:
    owner, name = FULL_NAME.split("/")
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [],
        "repository": {
            "name": name,
            "full_name": FULL_NAME,
            "owner": {"name": owner, "login": owner},
        },
        "installation": {"id": 1},
    }


def deliver(stack: LocalStack, secret: str, before: str, after: str) -> tuple[int, Any]:
    body = json.dumps(push_payload(before, after)).encode()
    request = urllib.request.Request(
        stack.api_url + "/webhooks/github",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(secret, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def bucket_objects(stack: LocalStack) -> dict[str, int]:
    """Every key in the index bucket and its size."""
    assert stack.aws is not None
    pages = stack.aws.s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.settings.names.bucket
    )
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def generation_kind(stack: LocalStack, new_keys: set[str]) -> dict[str, Any]:
    """From the new manifest: compaction (a new lexical base), delta (a new delta over the
    base), reuse (the last generation's lexical segments: no indexed file changed), or unknown
    (no new manifest); and its tombstones."""
    manifests = [k for k in new_keys if k.endswith("/manifest.json.gz")]
    if not manifests:
        return {"kind": "unknown", "tombstones": None}
    assert stack.aws is not None
    raw = stack.aws.s3.get_object(Bucket=stack.settings.names.bucket, Key=manifests[0])
    manifest = decode_manifest(raw["Body"].read())
    if manifest.segments.get("lexical") in new_keys:
        kind = "compaction"
    else:
        kind = "delta" if manifest.segments.get("lexical_delta") in new_keys else "reuse"
    return {"kind": kind, "tombstones": len(manifest.tombstones)}


def written_bytes(before: dict[str, int], after: dict[str, int]) -> dict[str, Any]:
    new = {k: v for k, v in after.items() if k not in before and not k.startswith("jobs/")}
    artifacts = sum(v for k, v in new.items() if k.startswith("blobs/"))
    return {
        "s3_bytes": sum(new.values()),
        "s3_artifact_bytes": artifacts,
        "s3_generation_bytes": sum(new.values()) - artifacts,
        "s3_objects": len(new),
    }


# --- waiting and timing ----------------------------------------------------------------------


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def wait_indexed(stack: LocalStack, sha: str, timeout: float, rid: str = RID) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status = status_of(stack, rid)
        if status["status"] == "error":
            raise RuntimeError(f"indexing {sha[:12]} failed: {status.get('error')}")
        ready = status["indexedSha"] == sha and status["status"] == "ready"
        return status if ready else None

    result: dict[str, Any] = wait_for(done, timeout, f"{rid} at {sha[:12]}")
    return result


def wait_searchable(stack: LocalStack, sha: str, rid: str = RID) -> bool:
    body = {"repositoryId": rid, "query": SEARCH_QUERY, "k": 1}

    def answered() -> bool | None:
        code, found = api(stack, "POST", "/search", body)
        return True if code == 200 and found.get("indexedSha") == sha else None

    try:
        return bool(wait_for(answered, SEARCH_TIMEOUT_SECONDS, f"search at {sha[:12]}"))
    except TimeoutError:
        return False


def seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def event_times(stack: LocalStack, sha: str, rid: str = RID) -> dict[str, Any]:
    """Index spans from the events of the generation at `sha`, when they are all there."""
    at: dict[str, str] = {}
    for event in events_of(stack, rid):  # newest first: keep the newest of each type
        if event["data"].get("sha") == sha and event["type"] not in at:
            at[event["type"]] = event["at"]
    requested, started = at.get("IndexRequested"), at.get("IndexStarted")
    published = at.get("GenerationPublished")

    def span(earlier: str | None, later: str | None) -> float | None:
        return round(seconds_between(earlier, later), 3) if earlier and later else None

    return {
        "index_span_s": span(started, published),
        "requested_to_started_s": span(requested, started),
        "requested_to_published_s": span(requested, published),
    }


def index_stats(status: dict[str, Any]) -> dict[str, Any]:
    stats = status.get("stats") or {}
    return {
        "files": stats.get("totalFiles"),
        "chunks": stats.get("chunks"),
        "blobs_parsed": stats.get("blobsParsed"),
        "blobs_reused": stats.get("blobsReused"),
        "chunks_embedded": stats.get("chunksEmbedded", 0),
    }


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Run:
    stack: LocalStack
    source: Path
    bare: Path
    secret: str = ""
    objects: dict[str, int] = field(default_factory=dict)


def full_index(run: Run, sha: str) -> dict[str, Any]:
    """Register github:bench:pytest at `sha` (remote: the bare repository) and index it."""
    started = time.perf_counter()
    repo = Repository(id=RID, remote=str(run.bare), branch="main")
    bootstrap.index_requests().request_at(repo, sha, source="api")
    status = wait_indexed(run.stack, sha, FULL_TIMEOUT_SECONDS)
    row = {"sha": sha, "wall_s": round(time.perf_counter() - started, 3), **index_stats(status)}
    return row | generation_written(run, sha, RID)


def generation_written(run: Run, sha: str, rid: str) -> dict[str, Any]:
    """Event spans, new S3 objects and the generation's kind since the last call."""
    after = bucket_objects(run.stack)
    row = event_times(run.stack, sha, rid) | written_bytes(run.objects, after)
    row |= generation_kind(run.stack, set(after) - set(run.objects))
    run.objects = after
    return row


def replay_push(run: Run, before: str, sha: str) -> dict[str, Any]:
    files, written = diff_counts(run.source, before, sha)
    push_s = push_to(run.source, run.bare, sha)
    sent = time.perf_counter()
    code, answer = deliver(run.stack, run.secret, before, sha)
    if code != 202 or answer.get("status") != "accepted":
        raise RuntimeError(f"the webhook for {sha[:12]} answered {code}: {answer}")
    status = wait_indexed(run.stack, sha, PUSH_TIMEOUT_SECONDS)
    latency = time.perf_counter() - sent
    searchable = wait_searchable(run.stack, sha)
    search_s = time.perf_counter() - sent
    after = bucket_objects(run.stack)
    stats = index_stats(status)
    row = {
        "sha": sha,
        "files_changed": files,
        "files_written": written,
        "git_push_s": round(push_s, 3),
        "push_to_queryable_s": round(latency, 3),
        "push_to_search_s": round(search_s, 3) if searchable else None,
        **stats,
        "unchanged_blobs_reparsed": max(0, (stats["blobs_parsed"] or 0) - written),
        **event_times(run.stack, sha),
        **written_bytes(run.objects, after),
        **generation_kind(run.stack, set(after) - set(run.objects)),
    }
    run.objects = after
    return row


def forced_reindex(run: Run, sha: str) -> dict[str, Any]:
    """POST /repositories/index {repositoryId, force} for the tree just indexed: every
    artifact and segment is reused (see second_full for full builds)."""
    started = time.perf_counter()
    code, body = api(run.stack, "POST", "/repositories/index", {"repositoryId": RID, "force": True})
    row: dict[str, Any] = {"http_status": code, "answer": body}
    if code == 200 and body.get("status") in ("indexing", "ready"):
        status = wait_indexed(run.stack, sha, FULL_TIMEOUT_SECONDS)
        row |= {"wall_s": round(time.perf_counter() - started, 3), **index_stats(status)}
        row |= generation_written(run, sha, RID)
    return row


def second_full(run: Run, sha: str) -> dict[str, Any]:
    """The bare repository registered by path (a new `local:` id, no base generation): a
    full generation of the final commit from warm artifacts; then a forced re-index of it
    (same files, so the base's segments are shared)."""
    out: dict[str, Any] = {}
    for name, force in (("full_by_path", False), ("forced_same_tree", True)):
        started = time.perf_counter()
        code, body = api(
            run.stack, "POST", "/repositories/index", {"url": str(run.bare), "force": force}
        )
        if code != 200:
            out[name] = {"http_status": code, "answer": body}
            continue
        rid = body["repositoryId"]
        status = wait_indexed(run.stack, sha, FULL_TIMEOUT_SECONDS, rid)
        row = {"repository": rid, "wall_s": round(time.perf_counter() - started, 3)}
        out[name] = row | index_stats(status) | generation_written(run, sha, rid)
    return out


# --- summary ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def ratio(part: float | None, whole: float | None) -> float | None:
    return round(part / whole, 4) if part is not None and whole else None


def column(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) is not None]


def summarize(full: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    latency = column(rows, "push_to_queryable_s")
    parsed = column(rows, "blobs_parsed")
    s3 = column(rows, "s3_bytes")
    spans = column(rows, "index_span_s")
    one = [r for r in rows if r["files_changed"] == 1]
    one_spans = column(one, "index_span_s")
    return {
        "pushes": len(rows),
        "one_file_pushes": len(one),
        "push_to_queryable_s": {
            "p50": percentile(latency, 0.5),
            "p95": percentile(latency, 0.95),
            "max": max(latency, default=None),
        },
        "push_to_search_p95_s": percentile(column(rows, "push_to_search_s"), 0.95),
        "files_changed_per_push": {"mean": _mean(column(rows, "files_changed"))},
        "blobs_parsed_per_push": {"mean": _mean(parsed), "max": max(parsed, default=None)},
        "blobs_parsed_full": full["blobs_parsed"],
        "unchanged_blobs_reparsed_total": sum(column(rows, "unchanged_blobs_reparsed")),
        "chunks_embedded_per_push": {
            "mean": _mean(column(rows, "chunks_embedded")),
            "max": max(column(rows, "chunks_embedded"), default=None),
        },
        "chunks_embedded_full": full.get("chunks_embedded"),
        "embedder": EMBEDDER[0],
        "s3_bytes_per_push": {"mean": _mean(s3), "p95": percentile(s3, 0.95)},
        "s3_bytes_full": full["s3_bytes"],
        "index_span_s_full": full["index_span_s"],
        "full_wall_s": full["wall_s"],
        "incremental_to_full": {
            "median_index_span": ratio(median(spans), full["index_span_s"]),
            "median_index_span_one_file": ratio(median(one_spans), full["index_span_s"]),
            "median_requested_to_published": ratio(
                median(column(rows, "requested_to_published_s")),
                full["requested_to_published_s"],
            ),
            "median_latency_vs_full_wall": ratio(median(latency), full["wall_s"]),
            "median_latency_one_file_vs_full_wall": ratio(
                median(column(one, "push_to_queryable_s")), full["wall_s"]
            ),
        },
        "generations": {
            kind: sum(1 for r in rows if r["kind"] == kind)
            for kind in ("delta", "compaction", "reuse", "unknown")
        },
        "push_to_queryable_by_kind_s": by_kind(rows),
        "compactions": [
            {k: r[k] for k in ("sha", "files_changed", "blobs_parsed", "push_to_queryable_s")}
            for r in rows
            if r["kind"] == "compaction"
        ],
    }


def by_kind(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for kind in sorted({r["kind"] for r in rows}):
        values = column([r for r in rows if r["kind"] == kind], "push_to_queryable_s")
        out[kind] = {
            "n": len(values),
            "p50": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
        }
    return out


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def table(summary: dict[str, Any]) -> str:
    s, ratios = summary, summary["incremental_to_full"]
    lat = s["push_to_queryable_s"]
    rows = [
        ("pushes (one-file)", f"{s['pushes']} ({s['one_file_pushes']})", ""),
        ("push->queryable p50/p95/max s", f"{lat['p50']} / {lat['p95']} / {lat['max']}", "p95<=10"),
        ("push->search p95 s", s["push_to_search_p95_s"], ""),
        ("files changed/push mean", s["files_changed_per_push"]["mean"], ""),
        (
            "blobs parsed/push mean/max (full)",
            f"{s['blobs_parsed_per_push']['mean']} / {s['blobs_parsed_per_push']['max']}"
            f" ({s['blobs_parsed_full']})",
            "",
        ),
        ("unchanged blobs re-parsed", s["unchanged_blobs_reparsed_total"], "0"),
        (
            f"chunks embedded/push mean/max (full), {s['embedder']}",
            f"{s['chunks_embedded_per_push']['mean']} / {s['chunks_embedded_per_push']['max']}"
            f" ({s['chunks_embedded_full']})",
            "",
        ),
        (
            "S3 bytes/push mean/p95 (full)",
            f"{s['s3_bytes_per_push']['mean']} / {s['s3_bytes_per_push']['p95']}"
            f" ({s['s3_bytes_full']})",
            "",
        ),
        ("full index wall s (span s)", f"{s['full_wall_s']} ({s['index_span_s_full']})", ""),
        (
            "2nd full wall s: cold / warm artifacts",
            " / ".join(str(v) for v in s.get("second_full_wall_s", {}).values()),
            "",
        ),
        ("incr/full span, median", ratios["median_index_span"], ""),
        ("incr/full span, one-file median", ratios["median_index_span_one_file"], "<=0.02"),
        ("incr/full latency vs wall, median", ratios["median_latency_vs_full_wall"], ""),
        (
            "incr/full latency vs wall, one-file",
            ratios["median_latency_one_file_vs_full_wall"],
            "<=0.02",
        ),
        ("generations", json.dumps(s["generations"]), ""),
    ]
    for kind, lat_kind in s["push_to_queryable_by_kind_s"].items():
        rows.append(
            (f"  {kind} push->queryable p50/p95 s", f"{lat_kind['p50']} / {lat_kind['p95']}", "")
        )
    width = max(len(r[0]) for r in rows)
    lines = [f"{'metric':<{width}}  {'value':<36} target", "-" * (width + 46)]
    lines += [f"{name:<{width}}  {value!s:<36} {target}" for name, value, target in rows]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def start_stack(state: Path) -> LocalStack:
    options = StackOptions(
        state_dir=state,
        port=0,
        # --embedder none (the default) keeps the model out of the loop: its cost per push is
        # measured with --embedder minilm, and bench/retrieval_bench.py measures throughput.
        settings=Settings(
            resource_prefix="bench-fresh",
            embedder=EMBEDDER[0],
            local_roots=(str(state.parent),),  # the bare repository lives beside the state
            rate_per_second=0,  # the bench polls every 50 ms: no per-key limit
        ),
        save_on_stop=False,
    )
    stack = LocalStack(options).start()
    KEYS[stack.api_url] = provide_admin_key(state).token
    return stack


def replay(run: Run, shas: list[str], deadline: float, results: dict[str, Any]) -> None:
    rows: list[dict[str, Any]] = results["pushes"]
    for before, sha in pairwise(shas):
        if time.monotonic() > deadline:
            results["stopped_early"] = f"wall-time cap reached after {len(rows)} pushes"
            return
        row = replay_push(run, before, sha)
        rows.append(row)
        print(
            f"push {len(rows):3d} {sha[:10]} files={row['files_changed']:<4} "
            f"parsed={row['blobs_parsed']:<4} latency={row['push_to_queryable_s']:.2f}s "
            f"span={row['index_span_s']} kind={row['kind']} s3={row['s3_bytes']}",
            file=sys.stderr,
            flush=True,
        )


def execute(args: argparse.Namespace, tmp: Path, results: dict[str, Any]) -> None:
    shas = history(args.source, args.commits)
    results["config"]["first_sha"], results["config"]["last_sha"] = shas[0], shas[-1]
    bare = tmp / "pytest.git"
    git(tmp, "init", "--quiet", "--bare", str(bare))
    results["initial_push_s"] = round(push_to(args.source, bare, shas[0]), 3)
    stack = start_stack(tmp / "state")
    try:
        run = Run(stack, args.source, bare, webhook_secret(stack))
        results["full_index"] = full_index(run, shas[0])
        print(f"full index: {results['full_index']}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + args.max_minutes * 60
        try:
            replay(run, shas, deadline, results)
        except Exception as exc:  # report what we have
            results["stopped_early"] = f"{type(exc).__name__}: {exc}"
        last = results["pushes"][-1]["sha"] if results["pushes"] else shas[0]
        results["forced_reindex"] = forced_reindex(run, last)
        results["second_full"] = second_full(run, last)
    finally:
        stack.stop()
    results["cold_full_final"] = cold_full(args.source, tmp, last)


def cold_full(source: Path, tmp: Path, sha: str) -> dict[str, Any]:
    """A second cold full index, of the final commit, in a fresh stack (empty bucket and git
    cache): the forced re-index cannot be one (it reuses every artifact and segment)."""
    bare = tmp / "final.git"
    git(tmp, "init", "--quiet", "--bare", str(bare))
    push_to(source, bare, sha)
    stack = start_stack(tmp / "state-cold")
    try:
        return full_index(Run(stack, source, bare), sha)
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=Path("/tmp/pytest-src"))
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--embedder", choices=("none", "minilm"), default="none")
    args = parser.parse_args()
    EMBEDDER[0] = args.embedder
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # boto3's pool-full notices
    started = time.perf_counter()
    results: dict[str, Any] = {
        "config": {
            "source": str(args.source),
            "commits": args.commits,
            "max_minutes": args.max_minutes,
            "embedder": args.embedder,
            "cpus": os.cpu_count(),
            "source_files": len(git(args.source, "ls-files").splitlines()),
        },
        "pushes": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="strata-freshness-"))
    try:
        execute(args, tmp, results)
    except Exception as exc:  # keep what was measured
        results["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    if "full_index" in results:
        results["summary"] = summarize(results["full_index"], results["pushes"])
        results["summary"]["second_full_wall_s"] = {
            "cold_final_commit": (results.get("cold_full_final") or {}).get("wall_s"),
            "warm_artifacts_by_path": (
                (results.get("second_full") or {}).get("full_by_path", {}).get("wall_s")
            ),
        }
        print(json.dumps(results["summary"], indent=2))
        print(table(results["summary"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wall {results['wall_s']} s; written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
