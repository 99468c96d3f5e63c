#!/usr/bin/env python3
"""Validate the descriptive-query tuning set (queries.jsonl + repos.json).

Errors (exit status 1):
  * a row misses a field or has a wrong type / unknown category / bad id;
  * ids not unique, or a row's repo/head/language disagrees with repos.json;
  * 0 or more than 3 targets, duplicate targets, or a target that is not a
    file (blob) at `head` in its repository;
  * a target that looks like a test, fixture, doc or example file;
  * a query that contains a target's path or file name (case-insensitive);
  * a symbol query of fewer than 3 words or equal to a target's file stem;
  * held-out rows that are not exactly a third of each (repository, category)
    cell (cells are multiples of 3) -- and hence of each repository;
  * fewer than 200 queries, 6 repositories, 6 languages, or no repository
    with >= 1,000 files; a repository of ../../shared/eval reused;
  * repos.json n_files not equal to the file count at head.
Warnings (printed, exit status unchanged):
  * architecture/behaviour queries with identifier-looking tokens
    (camelCase, snake_case, dotted.names), a target's file stem as a word,
    or a multi-word file name spelled out (HandlerStack -> "handler stack");
  * near-duplicate queries within a repository (token Jaccard >= 0.6).

Standard library; pygit2 is used if importable, else the `git` command.
Repositories are looked up as <mirror>/<owner>+<name>/repo (the layout the
fetch tool makes, default /work/.mirror) or <repos-root>/<name> (a clone).

    python check.py [--mirror /work/.mirror] [--repos-root DIR] [--quiet]
"""

import argparse
import importlib
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any


def _import_pygit2() -> ModuleType | None:
    try:
        return importlib.import_module("pygit2")
    except ImportError:  # pragma: no cover - depends on the environment
        return None


pygit2 = _import_pygit2()
GIT_TREE: Any = pygit2.Tree if pygit2 is not None else None

HERE = Path(__file__).resolve().parent
CATEGORIES = ("architecture", "behaviour", "symbol")
FIELDS = {
    "id": str,
    "repo": str,
    "name": str,
    "head": str,
    "language": str,
    "category": str,
    "query": str,
    "targets": list,
    "held_out": bool,
}
SHARED_EVAL = {
    "pallets/flask",
    "encode/starlette",
    "psf/black",
    "sindresorhus/ky",
    "AlexKontorovich/PrimeNumberTheoremAnd",
}
NON_SOURCE = re.compile(
    r"(^|/)(tests?|__tests__|__tests_dts__|spec|specs|testdata|fixtures?|docs|"
    r"examples?|_examples|playground|benches|bench)(/|$)|^doc/"
    r"|(^|/)[^/]*(_test\.go|\.test\.[jt]sx?|\.spec\.[jt]sx?|_spec\.rb|Test\.java)$"
    r"|\.(md|rst|txt)$"
)
IDENT = re.compile(r"\b([a-z]+[A-Z]\w*|[A-Za-z]+_[A-Za-z_]+|[a-z]\w*\.[a-z]\w*\()")
WORD = re.compile(r"[a-z0-9]+")
CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


STOP_WORDS = frozenset(
    {
        "how",
        "is",
        "are",
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "and",
        "or",
        "what",
        "when",
        "which",
        "where",
        "does",
        "do",
        "for",
        "with",
        "by",
        "from",
        "that",
        "it",
        "be",
        "on",
    }
)

Row = dict[str, Any]
Meta = dict[str, Any]
Cells = defaultdict[tuple[str, str], list[int]]
RepoQueries = defaultdict[str, list[tuple[str, set[str]]]]


class Repo:
    """Read-only access to one repository's tree at a commit."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.pg: Any = pygit2.Repository(self.path) if pygit2 else None
        self._trees: dict[str, set[str]] = {}

    def _pygit2_files(self, commit: str) -> set[str]:
        tree = self.pg.revparse_single(commit).peel(GIT_TREE)
        out: set[str] = set()
        stack = [("", tree)]
        while stack:
            prefix, t = stack.pop()
            for e in t:
                p = prefix + e.name
                if e.type_str == "tree":
                    stack.append((p + "/", self.pg[e.id]))
                else:
                    out.add(p)
        return out

    def _git_files(self, commit: str) -> set[str]:
        res = subprocess.run(
            [
                "git",
                "--git-dir" if self.path.endswith("repo") or self.path.endswith(".git") else "-C",
                self.path,
                "ls-tree",
                "-r",
                "--name-only",
                "-z",
                commit,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return set(filter(None, res.stdout.split("\0")))

    def files(self, commit: str) -> set[str]:
        if commit not in self._trees:
            read = self._pygit2_files if self.pg is not None else self._git_files
            self._trees[commit] = read(commit)
        return self._trees[commit]

    def is_blob(self, commit: str, path: str) -> bool:
        if self.pg is not None:
            try:
                obj = self.pg.revparse_single(commit).peel(GIT_TREE)[path]
            except KeyError:
                return False
            return bool(obj.type_str == "blob")
        return path in self.files(commit)


def find_repo(github: str, name: str, mirror: str, repos_root: str | None) -> Repo | None:
    cands = []
    if repos_root:
        cands.append(Path(repos_root) / name)
    cands.append(Path(mirror) / github.replace("/", "+") / "repo")
    for c in cands:
        if c.exists():
            return Repo(c)
    return None


def parse_args() -> argparse.Namespace:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--mirror", default="/work/.mirror")
    ap.add_argument("--repos-root", default=None)
    ap.add_argument("--queries", default=str(HERE / "queries.jsonl"))
    ap.add_argument("--repos", default=str(HERE / "repos.json"))
    ap.add_argument("--quiet", action="store_true", help="do not list warnings one by one")
    return ap.parse_args()


def git_access() -> str:
    return "pygit2 " + pygit2.__version__ if pygit2 else "git command"


def load_rows(path: str, errors: list[str]) -> list[Row]:
    rows: list[Row] = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: not JSON ({e})")
    return rows


def check_repository(
    r: Meta, mirror: str, repos_root: str | None, errors: list[str]
) -> Repo | None:
    """Check one repos.json entry; return its handle if its head is readable."""
    if r["github"] in SHARED_EVAL:
        errors.append(f"{r['github']} is in shared/eval")
    h = find_repo(r["github"], r["name"], mirror, repos_root)
    if h is None:
        errors.append(f"{r['github']}: no git directory found (fetch it or pass --repos-root)")
        return None
    try:
        nf = len(h.files(r["head"]))
    except Exception as e:
        errors.append(f"{r['github']}: head {r['head']} not readable ({e})")
        return None
    if nf != r.get("n_files"):
        errors.append(f"{r['github']}: n_files {r.get('n_files')} in repos.json, {nf} at head")
    return h


def check_repositories(
    meta: Meta, mirror: str, repos_root: str | None, errors: list[str]
) -> dict[str, Repo]:
    handles: dict[str, Repo] = {}
    for r in meta["repos"]:
        h = check_repository(r, mirror, repos_root, errors)
        if h is not None:
            handles[r["github"]] = h
    if len({r["language"] for r in meta["repos"]}) < 6:
        errors.append("fewer than 6 languages")
    if len(meta["repos"]) < 6:
        errors.append("fewer than 6 repositories")
    if not any(r.get("n_files", 0) >= 1000 for r in meta["repos"]):
        errors.append("no repository with >= 1,000 files")
    return handles


def check_ids(rows: list[Row], errors: list[str]) -> None:
    ids = Counter(r.get("id") for r in rows)
    for i, c in ids.items():
        if c > 1:
            errors.append(f"id {i} used {c} times")


def check_row_meta(r: Row, rid: str, m: Meta, errors: list[str]) -> None:
    """Fields that must agree with repos.json, the id pattern, category and targets."""
    for k_row, k_meta in (("name", "name"), ("head", "head"), ("language", "language")):
        if r[k_row] != m[k_meta]:
            errors.append(f"{rid}: {k_row} {r[k_row]!r} != repos.json {m[k_meta]!r}")
    if not re.fullmatch(re.escape(m["name"]) + r"-\d{3}", rid):
        errors.append(f"{rid}: id is not <name>-NNN")
    if r["category"] not in CATEGORIES:
        errors.append(f"{rid}: category {r['category']!r}")
    t = r["targets"]
    if not 1 <= len(t) <= 3 or len(set(t)) != len(t) or not all(isinstance(x, str) for x in t):
        errors.append(f"{rid}: targets must be 1-3 distinct paths: {t}")


def check_target_errors(
    r: Row, rid: str, path: str, q: str, *, h: Repo | None, errors: list[str]
) -> None:
    if h is not None and not h.is_blob(r["head"], path):
        errors.append(f"{rid}: target {path} is not a file at {r['head'][:10]}")
    if NON_SOURCE.search(path):
        errors.append(f"{rid}: target {path} looks like a test/doc/example file")
    fname = path.rsplit("/", 1)[-1].lower()
    if path.lower() in q or fname in q:
        errors.append(f"{rid}: query contains target path or file name {fname!r}")


def check_target_warnings(r: Row, rid: str, path: str, q: str, warnings: list[str]) -> None:
    fname = path.rsplit("/", 1)[-1].lower()
    stem = fname.rsplit(".", 1)[0]
    if r["category"] != "symbol" and stem in WORD.findall(q) and len(stem) > 2:
        warnings.append(f"{rid}: {r['category']} query has the file stem {stem!r} as a word")
    # a multi-word file name spelled out word by word (HandlerStack -> "handler stack")
    parts = [p.lower() for p in CAMEL.findall(path.rsplit("/", 1)[-1].split(".", 1)[0])]
    if (
        r["category"] != "symbol"
        and len(parts) >= 2
        and " ".join(parts) in " ".join(WORD.findall(q))
    ):
        warnings.append(
            f"{rid}: {r['category']} query spells out the file name {' '.join(parts)!r}"
        )


def check_query(r: Row, rid: str, q: str, errors: list[str], warnings: list[str]) -> None:
    if r["category"] == "symbol":
        words = WORD.findall(q)
        stems = {x.rsplit("/", 1)[-1].split(".")[0].lower() for x in r["targets"]}
        if len(words) < 3 or "".join(words) in stems:
            errors.append(f"{rid}: symbol query is (almost) just an identifier: {r['query']!r}")
    else:
        for tok in IDENT.findall(r["query"]):
            warnings.append(f"{rid}: {r['category']} query has identifier-like token {tok!r}")


def check_row(
    r: Row,
    by_github: dict[str, Meta],
    handles: dict[str, Repo],
    errors: list[str],
    warnings: list[str],
) -> bool:
    """Check one row; return False if it is too broken to be counted."""
    rid = r.get("id", "?")
    bad = [k for k, t in FIELDS.items() if not isinstance(r.get(k), t)]
    if bad:
        errors.append(f"{rid}: missing or mistyped {bad}")
        return False
    m = by_github.get(r["repo"])
    if m is None:
        errors.append(f"{rid}: repo {r['repo']} not in repos.json")
        return False
    check_row_meta(r, rid, m, errors)
    q = r["query"].lower()
    h = handles.get(r["repo"])
    for path in r["targets"]:
        check_target_errors(r, rid, path, q, h=h, errors=errors)
        check_target_warnings(r, rid, path, q, warnings)
    check_query(r, rid, q, errors, warnings)
    return True


def check_rows(
    rows: list[Row],
    by_github: dict[str, Meta],
    handles: dict[str, Repo],
    errors: list[str],
    warnings: list[str],
) -> tuple[Cells, RepoQueries]:
    check_ids(rows, errors)
    cells: Cells = defaultdict(lambda: [0, 0])
    per_repo_queries: RepoQueries = defaultdict(list)
    for r in rows:
        if not check_row(r, by_github, handles, errors, warnings):
            continue
        cells[(r["repo"], r["category"])][0] += 1
        cells[(r["repo"], r["category"])][1] += r["held_out"]
        per_repo_queries[r["repo"]].append((r["id"], set(WORD.findall(r["query"].lower()))))
    return cells, per_repo_queries


def check_held_out(cells: Cells, errors: list[str]) -> None:
    for (repo, cat), (n, held) in sorted(cells.items()):
        if n % 3:
            errors.append(f"{repo}/{cat}: {n} rows, not a multiple of 3")
        elif held * 3 != n:
            errors.append(f"{repo}/{cat}: {held} of {n} held out, want {n // 3}")


def find_near_duplicates(per_repo_queries: RepoQueries, warnings: list[str]) -> None:
    for qs in per_repo_queries.values():
        for i in range(len(qs)):
            for j in range(i + 1, len(qs)):
                a, b = qs[i][1] - STOP_WORDS, qs[j][1] - STOP_WORDS
                if a and b and len(a & b) / len(a | b) >= 0.6:
                    warnings.append(f"near-duplicates {qs[i][0]} / {qs[j][0]}")


def print_table(rows: list[Row], key: str, title: str) -> None:
    c: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        c[r[key]][r["category"]] += 1
        c[r[key]]["held_out"] += r["held_out"]
    print(f"\n{title:<22} {'arch':>5} {'behav':>5} {'symbol':>6} {'total':>5} {'held':>5}")
    for k in sorted(c):
        v = c[k]
        tot = sum(v[x] for x in CATEGORIES)
        print(
            f"{k:<22} {v['architecture']:>5} {v['behaviour']:>5} {v['symbol']:>6} "
            f"{tot:>5} {v['held_out']:>5}"
        )


def print_categories(rows: list[Row]) -> None:
    cat = Counter(r["category"] for r in rows)
    held = Counter(r["category"] for r in rows if r["held_out"])
    print(f"\n{'category':<22} {'rows':>5} {'held':>5}")
    for k in CATEGORIES:
        print(f"{k:<22} {cat[k]:>5} {held[k]:>5}")


def print_totals(rows: list[Row], meta: Meta) -> None:
    ntargets = Counter(len(r["targets"]) for r in rows)
    languages = len({r["language"] for r in meta["repos"]})
    print(
        f"\nrows {len(rows)}, held out {sum(r['held_out'] for r in rows)}, "
        f"targets per row {dict(sorted(ntargets.items()))}, "
        f"repositories {len(meta['repos'])}, languages {languages}"
    )
    for r in meta["repos"]:
        print(
            f"  {r['github']:<22} {r['language']:<11} {r['n_files']:>5} files  "
            f"head {r['head'][:12]}  {r['license']}"
        )


def print_tables(rows: list[Row], meta: Meta) -> None:
    print_table(rows, "repo", "repository")
    print_table(rows, "language", "language")
    print_categories(rows)
    print_totals(rows, meta)


def print_findings(warnings: list[str], errors: list[str], quiet: bool) -> None:
    print(f"\n{len(warnings)} warning(s)")
    if not quiet:
        for w in warnings:
            print("  warn:", w)
    print(f"{len(errors)} error(s)")
    for e in errors:
        print("  ERROR:", e)


def main() -> int:
    args = parse_args()
    errors: list[str] = []
    warnings: list[str] = []
    meta: Meta = json.loads(Path(args.repos).read_text())
    by_github = {r["github"]: r for r in meta["repos"]}
    print(f"seed {meta.get('seed')}; git access: {git_access()}")

    rows = load_rows(args.queries, errors)
    handles = check_repositories(meta, args.mirror, args.repos_root, errors)
    cells, per_repo_queries = check_rows(rows, by_github, handles, errors, warnings)
    check_held_out(cells, errors)
    if len(rows) < 200:
        errors.append(f"only {len(rows)} queries (< 200)")
    find_near_duplicates(per_repo_queries, warnings)

    print_tables(rows, meta)
    print_findings(warnings, errors, args.quiet)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
