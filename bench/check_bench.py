"""Syntax-check throughput (the `syntax` level of checks) on real trees, next to tree-sitter's
bare parse of the same files in the same run.

    python bench/check_bench.py                 # this repository at HEAD + eval trees on disk
    python bench/check_bench.py --max-mb 1      # fewer bytes per corpus
    python bench/check_bench.py --no-build      # the syntax level only

After the syntax figures, the build level (bench/check_build_bench.py): a full build of each
corpus with the real toolchains, then the re-check after a one-file change and with no
change, same run.

Corpora: this repository's files at HEAD (`git ls-files`, contents from `git cat-file`, so
uncommitted edits do not count), plus, when present, /work/eval-repos/black (Python), the
TypeScript of /work/eval-repos/ky and the Lean of /work/eval-repos/pnt
(PrimeNumberTheoremAnd). Only files `syntax_checkable` accepts, in path order, up to
--max-mb per corpus. Files are in memory and grammars loaded before timing; one process, one
thread: MB/s is per core.

Per language: files, MB, diagnostics found, check CPU seconds and MB/s, and for tree-sitter
languages the bare parse's seconds and `check_over_parse` (check time / bare parse time;
Python's check also runs `compile()`). Lean has no tree-sitter grammar here: no ratio.
Results also go to bench/results/check_bench.json. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import _env  # noqa: F401  (repository on sys.path)

from chalicelib.domain.languages import language_for
from chalicelib.parsers.syntax import parse_tree, syntax_checkable, syntax_diagnostics

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "check_bench.json"
EVAL_TREES = {name: Path("/work/eval-repos") / name for name in ("black", "ky", "pnt")}


def head_files(max_bytes: int) -> list[tuple[str, bytes]]:
    """Checkable files of this repository at HEAD, up to `max_bytes`."""
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "HEAD"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    entries = [e.split(b"\t", 1) for e in listed if e]
    wanted = [(meta.split()[2].decode(), path.decode()) for meta, path in entries]
    wanted = [(oid, path) for oid, path in wanted if syntax_checkable(path)]
    batch = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=ROOT,
        input="".join(f"{oid}\n" for oid, _ in wanted).encode(),
        capture_output=True,
        check=True,
    ).stdout
    files, pos = [], 0
    for _, path in wanted:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        files.append((path, batch[header_end + 1 : header_end + 1 + size]))
        pos = header_end + 1 + size + 1
    return _capped(sorted(files), max_bytes)


def tree_files(root: Path, max_bytes: int) -> list[tuple[str, bytes]]:
    paths = sorted(p for p in root.rglob("*") if p.is_file() and ".lake" not in p.parts)
    files = [(str(p.relative_to(root)), p) for p in paths if syntax_checkable(p.name)]
    if any(language_for(name) == "lean" for name, _ in files):
        files = [(name, p) for name, p in files if language_for(name) == "lean"]
    return _capped([(name, p.read_bytes()) for name, p in files], max_bytes)


def _capped(files: list[tuple[str, bytes]], max_bytes: int) -> list[tuple[str, bytes]]:
    kept, total = [], 0
    for path, data in files:
        if total + len(data) > max_bytes:
            break
        kept.append((path, data))
        total += len(data)
    return kept


def measure(files: list[tuple[str, bytes]]) -> dict[str, dict[str, float]]:
    by_language: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for path, data in files:
        by_language[language_for(path)].append((path, data))
    figures: dict[str, dict[str, float]] = {}
    for language, group in sorted(by_language.items()):
        for path, data in group[:3]:  # warm up: grammars and parsers built
            syntax_diagnostics(path, data)
        started = time.process_time()
        found = sum(len(syntax_diagnostics(path, data)) for path, data in group)
        check_seconds = time.process_time() - started
        size = sum(len(data) for _, data in group)
        row: dict[str, float] = {
            "files": len(group),
            "mb": round(size / 1e6, 3),
            "diagnostics": found,
            "check_seconds": round(check_seconds, 3),
            "check_mb_per_s": round(size / 1e6 / max(check_seconds, 1e-9), 2),
        }
        if language != "lean":
            started = time.process_time()
            for _, data in group:
                parse_tree(language, data)
            parse_seconds = time.process_time() - started
            row["parse_seconds"] = round(parse_seconds, 3)
            row["parse_mb_per_s"] = round(size / 1e6 / max(parse_seconds, 1e-9), 2)
            row["check_over_parse"] = round(check_seconds / max(parse_seconds, 1e-9), 2)
        figures[language] = row
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-mb", type=float, default=3.0, help="bytes per corpus (MB)")
    parser.add_argument("--no-build", action="store_true", help="skip the build level")
    parser.add_argument("--build-max-files", type=int, default=400, help="build: files per corpus")
    args = parser.parse_args()
    max_bytes = int(args.max_mb * 1e6)
    corpora = {"strata@HEAD": head_files(max_bytes)}
    for name, root in EVAL_TREES.items():
        if root.is_dir():
            corpora[name] = tree_files(root, max_bytes)
    results: dict[str, object] = {}
    for name, files in corpora.items():
        figures = measure(files)
        results[name] = figures
        for language, row in figures.items():
            ratio = row.get("check_over_parse")
            print(
                f"{name:12} {language:11} {int(row['files']):5} files {row['mb']:7.3f} MB "
                f"{int(row['diagnostics']):4} diags  check {row['check_mb_per_s']:7.2f} MB/s"
                + (
                    f"  parse {row['parse_mb_per_s']:7.2f} MB/s  check/parse {ratio:.2f}"
                    if ratio is not None
                    else "  (no tree-sitter grammar)"
                )
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    if not args.no_build:
        import check_build_bench

        check_build_bench.main(args.build_max_files)


if __name__ == "__main__":
    main()
