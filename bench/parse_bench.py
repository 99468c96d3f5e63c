"""Parse throughput per language on real source trees, next to universal-ctags on the same files.

    python bench/parse_bench.py               # every corpus found on this machine, 4 MB each
    python bench/parse_bench.py --max-mb 8    # more bytes per language
    python bench/parse_bench.py python cpp    # only some languages

Corpora are source trees already on disk (no network): the eval repositories under
/work/eval-repos (or, when absent, a fetched mirror of the same name under /work/.mirror,
its HEAD tree extracted once to a cache directory), npm's own JavaScript, the C and C++
headers under /usr/include, the JDK's src.zip (java.util), Go/Rust sources wherever a
toolchain or doc left some, and Lean from the PrimeNumberTheoremAnd eval repository (ctags
has no Lean parser: no comparison). A language
with no files prints "no corpus". Files are taken in path order up to --max-mb, and a file
whose extension does not name the corpus language (C++'s extensionless `<vector>`) is given one.

Per language: files, MB, CPU seconds and MB/s of `parse_blob` (one core, files already in
memory; grammars loaded before timing; best of --repeat rounds, each from a cold tokenizer
cache, with the bare parse and line windows timed in the same rounds), the share of that
spent in tree-sitter's own parse, `ours_over_parse`: parse_blob's time over tree-sitter's
bare parse of the same files in the same run (the target is at most 1.5: our extraction
adds at most half the parse), MB/s of plain line windows (the previous parser, which also
tokenizes every chunk) for context, and `ctags -R` CPU seconds over the same file list
(child user+sys time, best of two runs, language forced) with the ratio ours/ctags. Without
ctags on PATH the comparison is skipped. Results also go to bench/results/parse_bench.json.
Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from math import inf
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tree_sitter  # noqa: E402

from chalicelib.domain import tokens  # noqa: E402
from chalicelib.parsers import PARSER_VERSION, parse_blob, parse_windows  # noqa: E402
from chalicelib.parsers.classify import classify  # noqa: E402
from chalicelib.parsers.treesitter import prepare  # noqa: E402
from chalicelib.parsers.ts_languages import SPECS  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "parse_bench.json"
EVAL_ROOT = Path("/work/eval-repos")
MIRRORS = Path("/work/.mirror")
SITE = Path(sysconfig.get_paths()["purelib"])
HOME = Path.home()


def _glob(roots: Iterable[Path], *patterns: str, vendored: bool = False) -> list[Path]:
    """Files under the roots matching the patterns, without node_modules unless `vendored`."""
    found: set[Path] = set()
    for root in roots:
        for pattern in patterns:
            for path in root.glob(pattern):
                inside = path.relative_to(root).parts
                if path.is_file() and (vendored or "node_modules" not in inside):
                    found.add(path)
    return sorted(found)


class _Eval:
    """An eval repository's tree: under /work/eval-repos, else a fetched mirror's HEAD."""

    def __truediv__(self, name: str) -> Path:
        top, _, rest = name.partition("/")
        tree = EVAL_ROOT / top
        if not tree.is_dir():
            tree = _mirror_tree(top) or tree
        return tree / rest if rest else tree


def _mirror_tree(name: str) -> Path | None:
    """HEAD of /work/.mirror/<owner>+<name>/repo, extracted once to a cache directory."""
    for git_dir in sorted(MIRRORS.glob(f"*+{name}/repo")):
        target = Path(tempfile.gettempdir()) / f"strata-parse-bench-{name}"
        if not target.is_dir():
            archive = subprocess.run(
                ["git", f"--git-dir={git_dir}", "archive", "HEAD"], check=False, capture_output=True
            )
            if archive.returncode != 0:
                continue
            target.mkdir()
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
        return target
    return None


EVAL = _Eval()


def _java_sources() -> list[Path]:
    """java.util from the first JDK src.zip found, extracted once to a cache directory."""
    for archive in sorted(Path("/usr/lib/jvm").glob("*/lib/src.zip")):
        target = Path(tempfile.gettempdir()) / "strata-parse-bench-java"
        if not target.is_dir():
            with zipfile.ZipFile(archive) as zf:
                prefix = "java.base/java/util/"
                zf.extractall(target, [n for n in zf.namelist() if n.startswith(prefix)])
        return sorted(target.rglob("*.java"))
    return []


# language -> (ctags language, where the corpus comes from, how to list its files)
CORPORA: dict[str, tuple[str | None, str, Callable[[], list[Path]]]] = {
    "python": ("Python", "flask, starlette, black (eval repos), then moto",
               lambda: _glob([EVAL / "flask/src", EVAL / "starlette/starlette", EVAL / "black/src",
                              SITE / "moto"], "**/*.py")),
    "javascript": ("JavaScript", "npm and its dependencies (/usr/lib/node_modules/npm)",
                   lambda: _glob([Path("/usr/lib/node_modules/npm")], "**/*.js", vendored=True)),
    "typescript": ("TypeScript", "ky (eval repo)", lambda: _glob([EVAL / "ky"], "**/*.ts")),
    "tsx": ("TypeScript", "any .tsx in the eval repos", lambda: _glob([EVAL_ROOT], "**/*.tsx")),
    "go": ("Go", "GOROOT or git's contrib/*.go",
           lambda: _glob([Path("/usr/local/go/src"), *Path("/usr/lib").glob("go*/src"),
                          Path("/usr/share/doc/git/contrib")], "**/*.go")),
    "rust": ("Rust", "rust-src or ~/.cargo/registry",
             lambda: _glob([*HOME.glob(".rustup/toolchains/*/lib/rustlib/src"),
                            HOME / ".cargo/registry/src"], "**/*.rs")),
    "java": ("Java", "JDK src.zip, java.util", _java_sources),
    "c": ("C", "/usr/include/python3.11 and mypyc/lib-rt",
          lambda: _glob([Path("/usr/include/python3.11"), SITE / "mypyc/lib-rt"],
                        "**/*.h", "**/*.c")),
    "cpp": ("C++", "libstdc++ headers (/usr/include/c++/12)",
            lambda: _glob([Path("/usr/include/c++/12")], "**/*")),
    "markdown": ("Markdown", "*.md in the eval repos", lambda: _glob([EVAL_ROOT], "**/*.md")),
    "lean": (None, "PrimeNumberTheoremAnd (eval repo; ctags has no Lean)",
             lambda: _glob([EVAL / "pnt"], "**/*.lean")),
}  # fmt: skip

EXTENSIONS = {
    "python": ".py", "javascript": ".js", "typescript": ".ts", "tsx": ".tsx", "go": ".go",
    "rust": ".rs", "java": ".java", "c": ".c", "cpp": ".hpp", "markdown": ".md",
    "lean": ".lean",
}  # fmt: skip


def corpus(language: str, max_bytes: int) -> list[tuple[Path, bytes]]:
    """The corpus files (indexable text only), in path order, up to max_bytes."""
    files: list[tuple[Path, bytes]] = []
    total = 0
    for path in CORPORA[language][2]():
        data = path.read_bytes()
        if not data or classify(data) is not None:
            continue
        if total + len(data) > max_bytes and files:
            break
        files.append((path, data))
        total += len(data)
    return files


def cpu_seconds(run: Callable[[], object]) -> float:
    """CPU seconds of run(), starting from a cold tokenizer cache (as a fresh worker would)."""
    tokens._analyze_word.cache_clear()
    start = time.process_time()
    run()
    return time.process_time() - start


def ours(language: str, files: list[tuple[Path, bytes]], repeat: int) -> dict[str, float]:
    """Best-of-`repeat` CPU seconds of parse_blob, line windows and the bare parse, the three
    taken in turn each round (a load spike on a shared machine then hits no one side only)."""
    extension = EXTENSIONS[language]
    named = [(str(p) if str(p).endswith(extension) else f"{p}{extension}", d) for p, d in files]
    texts = [d.decode("utf-8") for _, d in files]
    runs: dict[str, Callable[[], object]] = {
        "seconds": lambda: [parse_blob("o", name, data) for name, data in named],
        "windows_seconds": lambda: [parse_windows(text) for text in texts],
    }
    spec = SPECS.get(language)
    if spec is not None:  # load grammars and compile queries before timing
        prepare(language)
        if spec.dialect is not None:
            prepare(spec.dialect[0])
        parser = tree_sitter.Parser(tree_sitter.Language(spec.grammar()))
        runs["tree_sitter_seconds"] = lambda: [parser.parse(d) for _, d in files]
    best = {"seconds": inf, "windows_seconds": inf, "tree_sitter_seconds": 0.0}
    for round_ in range(repeat):
        for key, run in runs.items():
            seconds = cpu_seconds(run)
            best[key] = seconds if round_ == 0 else min(best[key], seconds)
    return best


def ctags(ctags_language: str | None, files: list[tuple[Path, bytes]]) -> float | None:
    """Best-of-two child CPU seconds of `ctags -R` over the file list, or None without ctags
    (or without a ctags parser for the language)."""
    binary = shutil.which("ctags")
    if binary is None or ctags_language is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".list") as listing:
        listing.write("".join(f"{p}\n" for p, _ in files))
        listing.flush()
        command = [binary, "-R", "-f", "-", "--fields=+ne",
                   f"--language-force={ctags_language}", "-L", listing.name]  # fmt: skip
        best = float("inf")
        for _ in range(2):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(
                command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return best


def measure(language: str, max_bytes: int, repeat: int) -> dict[str, Any]:
    ctags_language, source, _ = CORPORA[language]
    files = corpus(language, max_bytes)
    row: dict[str, Any] = {"language": language, "corpus": source, "files": len(files)}
    if not files:
        return row | {"note": "no corpus"}
    megabytes = sum(len(d) for _, d in files) / 1e6
    timings = ours(language, files, repeat)
    ctags_seconds = ctags(ctags_language, files)
    row |= {
        "mb": round(megabytes, 3),
        "ours_cpu_s": round(timings["seconds"], 3),
        "ours_mb_per_s": round(megabytes / timings["seconds"], 2),
        "tree_sitter_share": round(timings["tree_sitter_seconds"] / timings["seconds"], 2),
        "ours_over_parse": (
            round(timings["seconds"] / timings["tree_sitter_seconds"], 2)
            if timings["tree_sitter_seconds"]
            else None
        ),
        "windows_mb_per_s": round(megabytes / timings["windows_seconds"], 2),
        "ctags_cpu_s": None if ctags_seconds is None else round(ctags_seconds, 3),
    }
    if ctags_seconds:
        row["ctags_mb_per_s"] = round(megabytes / ctags_seconds, 2)
        row["ours_over_ctags"] = round(timings["seconds"] / ctags_seconds, 2)
    return row


COLUMNS = (
    ("language", 10), ("files", 6), ("mb", 7), ("ours_cpu_s", 10), ("ours_mb_per_s", 13),
    ("tree_sitter_share", 17), ("ours_over_parse", 15), ("windows_mb_per_s", 16),
    ("ctags_cpu_s", 11), ("ctags_mb_per_s", 14), ("ours_over_ctags", 15),
)  # fmt: skip


def print_table(rows: list[dict[str, Any]]) -> None:
    print(" ".join(name.rjust(width) for name, width in COLUMNS))
    for row in rows:
        if "note" in row:
            print(f"{row['language']:>10} {row['note']} ({row['corpus']})")
            continue
        cells = [row.get(name) for name, _ in COLUMNS]
        print(
            " ".join(
                str("-" if c is None else c).rjust(w)
                for c, (_, w) in zip(cells, COLUMNS, strict=True)
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("languages", nargs="*", help=f"some of: {' '.join(CORPORA)}")
    parser.add_argument("--max-mb", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; the best counts")
    args = parser.parse_args()
    unknown = set(args.languages) - set(CORPORA)
    if unknown:
        parser.error(f"no corpus for {', '.join(sorted(unknown))}")
    ctags_version = None
    if shutil.which("ctags"):
        ctags_version = subprocess.run(
            ["ctags", "--version"], check=False, capture_output=True, text=True
        ).stdout.splitlines()[0]
    else:
        print("ctags not found on PATH: the ctags comparison is skipped")
    languages = args.languages or list(CORPORA)
    rows = [measure(language, int(args.max_mb * 1e6), args.repeat) for language in languages]
    print_table(rows)
    report = {
        "parser_version": PARSER_VERSION,
        "tree_sitter": tree_sitter.__version__ if hasattr(tree_sitter, "__version__") else None,
        "ctags": ctags_version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "max_mb_per_language": args.max_mb,
        "repeat": args.repeat,
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
