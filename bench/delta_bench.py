"""Incremental lexical generations: base + delta + tombstones against a full rebuild.

    .venv/bin/python bench/delta_bench.py [SOURCE_DIR] [--rounds 9]

Defaults to the Python files of the installed moto package (~1,500 files). Builds a base
segment, then for each edit size (a share of the files: 60 % modified, 20 % deleted, 20 %
added) builds the cumulative delta and a full rebuild of the same live files, and compares:
build (+ to_bytes) time, stored bytes, view open time, query p50/p95 (100 queries of 1-3 random
identifiers, k=10, each the median of `--rounds` interleaved runs), and that every query's
hits are identical (paths, lines, order, chunk index, scores bit for bit). Prints a table and
writes bench/results/delta_bench.json. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.domain.lexical import LexicalSegment, SegmentFile
from chalicelib.domain.lexical_view import LexicalView
from chalicelib.parsers import parse_blob

T = TypeVar("T")
Searcher = LexicalView | LexicalSegment
SHARES = (0.005, 0.01, 0.02, 0.05, 0.10, 0.20, 0.40)
RESULTS = Path(__file__).resolve().parent / "results" / "delta_bench.json"
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,30}")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def best_of(fn: Callable[[], T], repeat: int = 3) -> tuple[T, float]:
    """The result and the fastest of `repeat` timings (GC pauses make single runs noisy)."""
    runs = [timed(fn) for _ in range(repeat)]
    return runs[0][0], min(t for _, t in runs)


def segment_file(path: str, text: str) -> SegmentFile:
    a = parse_blob(f"oid-{hash(text)}", path, text.encode())
    return SegmentFile(path, a.oid, a.language, a.text, a.chunks)


def edit_text(text: str, rng: random.Random, words: list[str], n: int) -> str:
    """A plausible change that keeps the file parseable: a rename and a new function."""
    idents = sorted(set(IDENT.findall(text))) or ["value"]
    old, new = rng.choice(idents), rng.choice(words)
    args = ", ".join(rng.sample(words, 2))
    body = f"\n\ndef edited_{n}({args}):\n    return {rng.choice(words)}({args})\n"
    return re.sub(rf"\b{re.escape(old)}\b", new, text) + body


def apply_edits(
    texts: dict[str, str], share: float, rng: random.Random, words: list[str]
) -> tuple[dict[str, str], set[str]]:
    """The live texts after round(share * files) edits, and the changed-or-added paths."""
    live = dict(texts)
    count = max(1, round(share * len(texts)))
    changed: set[str] = set()
    paths = rng.sample(sorted(texts), count)
    for i, path in enumerate(paths):
        kind = rng.random()
        if kind < 0.6:
            live[path] = edit_text(texts[path], rng, words, i)
            changed.add(path)
        elif kind < 0.8:
            del live[path]
        else:
            added = f"{path.rsplit('/', 1)[0]}/added_{i}.py"
            live[added] = edit_text(texts[rng.choice(paths)], rng, words, i)
            changed.add(added)
    return live, changed


def query_ms(searchers: list[Searcher], query: str, rounds: int) -> list[float]:
    """Each searcher's median time for `query`, runs interleaved so drift hits all alike."""
    runs: list[list[float]] = [[] for _ in searchers]
    for _ in range(rounds):
        for searcher, samples in zip(searchers, runs, strict=True):
            start = time.perf_counter()
            searcher.search(query, 10)
            samples.append((time.perf_counter() - start) * 1000)
    return [statistics.median(samples) for samples in runs]


def compare_queries(
    view: LexicalView, full: LexicalSegment, base: LexicalSegment, ctx: dict[str, Any]
) -> dict[str, Any]:
    queries: list[str] = ctx["queries"]
    identical = all(view.search(q, 10) == full.search(q, 10) for q in queries)
    per_query = [query_ms([view, full, base], q, ctx["rounds"]) for q in queries]
    view_ms, full_ms, base_ms = (sorted(column) for column in zip(*per_query, strict=True))
    p95 = int(len(queries) * 0.95) - 1
    return {
        "identical": identical,
        "view_p50_ms": statistics.median(view_ms),
        "view_p95_ms": view_ms[p95],
        "full_p50_ms": statistics.median(full_ms),
        "full_p95_ms": full_ms[p95],
        "base_p50_ms": statistics.median(base_ms),
    }


def measure(
    base: LexicalSegment,
    texts: dict[str, str],
    files: dict[str, SegmentFile],
    share: float,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    live, changed = apply_edits(texts, share, ctx["rng"], ctx["words"])
    live_files = {p: files[p] if p not in changed else segment_file(p, live[p]) for p in live}
    tombstones = {p for p in texts if p not in live or p in changed}
    delta_files = [live_files[p] for p in sorted(changed)]
    delta, delta_build = best_of(lambda: LexicalSegment.build(delta_files))
    delta_bytes, delta_dump = best_of(delta.to_bytes)
    full, full_build = best_of(lambda: LexicalSegment.build(live_files[p] for p in sorted(live)))
    full_bytes, full_dump = best_of(full.to_bytes)
    view, view_open = best_of(lambda: LexicalView(base, delta, tombstones))
    return {
        "share_files": share,
        "edited_files": max(1, round(share * len(texts))),
        "delta_files": delta.num_files,
        "tombstones": len(tombstones),
        "delta_chunks": delta.num_chunks,
        "delta_over_base_chunks": delta.num_chunks / base.num_chunks,
        "delta_build_s": delta_build,
        "delta_write_s": delta_build + delta_dump,
        "full_build_s": full_build,
        "full_write_s": full_build + full_dump,
        "delta_bytes": len(delta_bytes),
        "full_bytes": len(full_bytes),
        "view_open_ms": view_open * 1000,
        **compare_queries(view, full, base, ctx),
    }


HEADER = (
    f"{'edit':>5} {'d/base':>6} {'build d/full s':>15} {'write':>6} {'bytes d/full MB':>16} "
    f"{'open':>5} {'view p50/p95 ms':>16} {'full p50/p95 ms':>16} {'x50':>5} {'base50':>6} "
    f"{'same':>4}"
)


def row(r: dict[str, Any]) -> str:
    return (
        f"{r['share_files']:>5.1%} {r['delta_over_base_chunks']:>6.1%} "
        f"{r['delta_build_s']:>6.3f}/{r['full_build_s']:<6.3f}  "
        f"{r['delta_write_s'] / r['full_write_s']:>6.1%} "
        f"{r['delta_bytes'] / 1e6:>6.2f}/{r['full_bytes'] / 1e6:<6.2f}    "
        f"{r['view_open_ms']:>5.1f} {r['view_p50_ms']:>6.3f}/{r['view_p95_ms']:<6.3f}   "
        f"{r['full_p50_ms']:>6.3f}/{r['full_p95_ms']:<6.3f}   "
        f"{r['view_p50_ms'] / r['full_p50_ms']:>5.2f} {r['base_p50_ms']:>6.3f} "
        f"{'yes' if r['identical'] else 'NO':>4}"
    )


def compaction_advice(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The compaction threshold that minimises write cost per generation.

    Writing a generation costs about `slope * x` full rebuilds for a cumulative delta of x
    (delta chunks / base chunks), fitted through the origin on the measured rows; compacting
    costs one full rebuild. If each generation adds d, a cycle up to threshold T averages
    d / T + slope * T / 2 rebuilds per generation, least at T* = sqrt(2 d / slope)."""
    xs = [r["delta_over_base_chunks"] for r in rows]
    ys = [r["delta_write_s"] / r["full_write_s"] for r in rows]
    slope = sum(x * y for x, y in zip(xs, ys, strict=True)) / sum(x * x for x in xs)
    print(f"write cost ~ {slope:.2f} x delta share of a full rebuild (least squares)")
    best = {}
    for d in (0.0025, 0.005, 0.01, 0.02):
        t = (2 * d / slope) ** 0.5
        at_10 = d / 0.10 + slope * 0.10 / 2
        best[str(d)] = {"threshold": t, "cost_at_best": d / t + slope * t / 2, "cost_at_10": at_10}
        print(
            f"  change per generation {d:.2%}: best threshold {t:.1%} "
            f"({best[str(d)]['cost_at_best']:.3f} rebuilds/generation; at 10%: {at_10:.3f})"
        )
    return {"write_slope": slope, "by_change_per_generation": best}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", nargs="?", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    if args.root is None:
        import moto

        args.root = Path(moto.__file__).parent
    texts = {
        str(p.relative_to(args.root)): p.read_text("utf-8")
        for p in sorted(args.root.rglob("*.py"))
        if p.is_file()
    }
    files = {p: segment_file(p, t) for p, t in texts.items()}
    base = LexicalSegment.build(files[p] for p in sorted(files))
    words = sorted({w for t in texts.values() for w in IDENT.findall(t)})
    rng = random.Random(7)
    queries = [" ".join(rng.sample(words, rng.choice((1, 2, 3)))) for _ in range(100)]
    ctx = {"rng": rng, "words": words, "queries": queries, "rounds": args.rounds}
    print(f"base: {base.num_files} files, {base.num_chunks} chunks; 100 queries, k=10")
    print(HEADER)
    results = []
    for share in SHARES:
        results.append(measure(base, texts, files, share, ctx))
        print(row(results[-1]), flush=True)
    advice = compaction_advice(results)
    RESULTS.parent.mkdir(exist_ok=True)
    summary = {
        "base_files": base.num_files,
        "base_chunks": base.num_chunks,
        "rows": results,
        "compaction": advice,
    }
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
