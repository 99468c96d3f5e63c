"""Microbenchmark of the lexical path: tokenize, parse, build, store, load, search.

    .venv/bin/python bench/lexical_microbench.py [SOURCE_DIR] [--glob '*.py']

Defaults to the Python files of the installed moto package (a large, realistic corpus).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.domain.lexical import LexicalSegment, SegmentFile
from chalicelib.domain.tokens import _analyze_word, term_counts, tokenize
from chalicelib.parsers import parse_blob

T = TypeVar("T")


def default_corpus() -> Path:
    import moto

    return Path(moto.__file__).parent


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(ms)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"p50 {p50:.3f} ms  p95 {p95:.3f} ms  max {ms[-1]:.3f} ms  (n={len(ms)})"


def bench_tokenize(texts: list[str]) -> None:
    size_mb = sum(len(t.encode()) for t in texts) / 1e6
    _analyze_word.cache_clear()
    _, cold = timed(lambda: [tokenize(t) for t in texts])
    _, warm = timed(lambda: [tokenize(t) for t in texts])
    _, counts = timed(lambda: [term_counts(t) for t in texts])
    print(f"corpus: {len(texts)} files, {size_mb:.1f} MB")
    print(f"tokenize (cold cache): {size_mb / cold:.1f} MB/s")
    print(f"tokenize (warm cache): {size_mb / warm:.1f} MB/s")
    print(f"term_counts (warm):    {size_mb / counts:.1f} MB/s")


def bench_segment(files: list[SegmentFile], raw_bytes: int, label: str) -> LexicalSegment:
    segment, build = timed(lambda: LexicalSegment.build(files))
    data, dump = timed(segment.to_bytes)
    loaded, load = timed(lambda: LexicalSegment.from_bytes(data))
    print(
        f"[{label}] {segment.num_files} files, {segment.num_chunks} chunks: build {build:.2f} s, "
        f"to_bytes {dump:.2f} s, from_bytes {load * 1000:.0f} ms; stored {len(data) / 1e6:.2f} MB "
        f"= {len(data) / raw_bytes:.2f} x raw text ({raw_bytes / 1e6:.2f} MB)"
    )
    return loaded


def search_times(segment: LexicalSegment, queries: list[str]) -> list[float]:
    for q in queries[:20]:
        segment.search(q)  # warm up
    samples = []
    for q in queries:
        start = time.perf_counter()
        segment.search(q, k=10)
        samples.append(time.perf_counter() - start)
    return samples


def bench_search(segment: LexicalSegment, words: list[str], tokens: list[str], label: str) -> None:
    """Distinct words drawn uniformly (mostly rare terms), then by frequency (common terms)."""
    rng = random.Random(7)
    uniform = [" ".join(rng.sample(words, 3)) for _ in range(500)]
    weighted = [" ".join(rng.choices(tokens, k=3)) for _ in range(500)]
    print(f"[{label}] search k=10, 3 distinct words: {percentiles(search_times(segment, uniform))}")
    print(
        f"[{label}] search k=10, 3 frequent words: {percentiles(search_times(segment, weighted))}"
    )
    query = next(q for q in weighted if segment.search(q, k=1))
    hit = segment.search(query, k=1)[0]
    samples = [timed(lambda: segment.snippet(hit, query))[1] for _ in range(200)]
    print(f"[{label}] snippet: {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", nargs="?", type=Path, default=None)
    parser.add_argument("--glob", default="*.py")
    args = parser.parse_args()
    root: Path = args.root or default_corpus()
    paths = sorted(p for p in root.rglob(args.glob) if p.is_file())
    blobs = [(str(p.relative_to(root)), p.read_bytes()) for p in paths]
    raw_bytes = sum(len(b) for _, b in blobs)

    artifacts, parse = timed(lambda: [(path, parse_blob(path, path, b)) for path, b in blobs])
    texts = [a.text for _, a in artifacts]
    print(f"parse_blob: {raw_bytes / 1e6 / parse:.1f} MB/s ({parse:.2f} s)")
    bench_tokenize(texts)

    files = [SegmentFile(p, a.oid, a.language, a.text, a.chunks) for p, a in artifacts]
    tokens = [t for t in tokenize(" ".join(texts[:200])) if t.isalpha() and len(t) > 3]
    words = sorted(set(tokens))
    segment = bench_segment(files, raw_bytes, "full corpus")
    bench_search(segment, words, tokens, "full corpus")

    # The target case: a segment of about 5,000 chunks.
    small: list[SegmentFile] = []
    for f in files:
        if sum(len(s.chunks) for s in small) + len(f.chunks) <= 5000:
            small.append(f)
    small_raw = sum(len(f.text.encode()) for f in small)
    segment = bench_segment(small, small_raw, "5k chunks")
    bench_search(segment, words, tokens, "5k chunks")


if __name__ == "__main__":
    main()
