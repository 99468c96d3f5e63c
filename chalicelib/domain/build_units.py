"""The `build` level's units: which toolchain checks which files, and what each run reads (its
closure), so its result can be keyed by content. Pure: file bytes come in through a callback.

A tool checks either one file at a time (`file` scope: py_compile, node --check, gcc, g++,
bash -n) or a whole project (`project` scope: tsc, javac, cargo, lake), whose root is the
nearest directory holding the tool's marker (tsconfig.json, Cargo.toml, lakefile.*; javac's
project is the repository). A unit's closure is every (path, blob oid) the tool reads:
- a file unit: the file, plus for C and C++ the repository headers its `#include`s reach,
  resolved as the compiler is told to (the including file's directory for `"..."`, then
  the `-I` directories of `include_dirs`: each `include/` from the file's directory up to
  the root, then the root);
- a project unit: every file under its root in the languages the tool reads.
So a one-file change re-runs the file units whose closure holds the file and the project
holding it, nothing else.

Languages that are code (`CODE_LANGUAGES`, those the syntax level parses) but have no tool
available here are reported, never passed. An `#include` that names no repository file
and would send the compiler outside the tree (an absolute path, `..` past the root) is
refused before any tool runs.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.planning import PlannedFile

# Programming languages: the syntax level parses each (parsers/syntax.py; a test holds the
# two sets equal). A build of one of them without a tool is an error, not a pass.
CODE_LANGUAGES = frozenset(
    {"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp", "ruby",
     "php", "csharp", "kotlin", "swift", "scala", "lua", "shell", "lean"}
)  # fmt: skip
# Bump when the command lines or the output parsing change what a unit's result says.
BUILD_REVISION = "1"


@dataclass(frozen=True)
class ToolSpec:
    tool: str
    languages: frozenset[str]  # the files it decides
    scope: str  # "file" | "project"
    markers: tuple[str, ...] = ()  # project: file names marking a root ("" = repository root)
    reads: frozenset[str] = frozenset()  # project: the languages of its closure
    runs_code: bool = False  # builds run repository code (build scripts, macros, tactics)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("py_compile", frozenset({"python"}), "file"),
    ToolSpec("node-check", frozenset({"javascript"}), "file"),
    ToolSpec("gcc", frozenset({"c"}), "file"),
    ToolSpec("g++", frozenset({"cpp"}), "file"),
    ToolSpec("bash-n", frozenset({"shell"}), "file"),
    ToolSpec(
        "tsc",
        frozenset({"typescript", "tsx"}),
        "project",
        ("tsconfig.json", ""),
        frozenset({"typescript", "tsx", "javascript", "json"}),
    ),
    ToolSpec("javac", frozenset({"java"}), "project", ("",), frozenset({"java"})),
    ToolSpec(
        "cargo",
        frozenset({"rust"}),
        "project",
        ("Cargo.toml",),
        frozenset({"rust", "toml"}),
        runs_code=True,
    ),
    ToolSpec(
        "lake",
        frozenset({"lean"}),
        "project",
        ("lakefile.lean", "lakefile.toml"),
        frozenset({"lean", "toml", "text", "json"}),
        runs_code=True,
    ),
)
SPEC_BY_TOOL = {spec.tool: spec for spec in TOOLS}
TOOL_FOR_LANGUAGE = {language: spec for spec in TOOLS for language in spec.languages}


@dataclass(frozen=True)
class BuildUnit:
    """One tool run: where it runs (`root`, relative to the repository: "" = its root, where
    every file unit runs), the files it decides, and every (path, oid) it reads."""

    tool: str
    root: str
    subjects: tuple[str, ...]
    closure: tuple[tuple[str, str], ...]
    refused: tuple[Diagnostic, ...] = ()  # why it must not run (an include leaving the tree)

    def key(self, version: str) -> str:
        """The content address of its result: tool and version, where, and what it reads."""
        listing = json.dumps(
            [BUILD_REVISION, self.tool, version, self.root, self.subjects, self.closure],
            separators=(",", ":"),
        )
        return f"checks/build/{self.tool}/{hashlib.sha256(listing.encode()).hexdigest()}"


@dataclass(frozen=True)
class BuildPlan:
    units: tuple[BuildUnit, ...]
    unsupported: Mapping[str, int] = field(default_factory=dict)  # language -> files
    reasons: tuple[str, ...] = ()  # why some files have no unit, worded for users
    not_code: int = 0  # selected files that are not code (data, docs): nothing to build


Read = Callable[[str], bytes]


def plan_build(
    files: Sequence[PlannedFile],
    selected: Sequence[PlannedFile],
    available: Iterable[str],
    read: Read,
) -> BuildPlan:
    """Units for the `selected` files of a tree (`files`: all of them, for closures and
    project roots); `available`: the tools this deployment can run; `read(path)`: a file's
    bytes (C and C++ files, for their includes)."""
    tools = set(available)
    by_path = {f.path: f for f in files}
    unsupported: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    not_code = 0
    file_units: list[BuildUnit] = []
    projects: dict[tuple[str, str], None] = {}
    for f in selected:
        spec = TOOL_FOR_LANGUAGE.get(f.language)
        if f.language not in CODE_LANGUAGES:
            not_code += 1
        elif spec is None or spec.tool not in tools:
            unsupported[f.language] += 1
        elif spec.scope == "file":
            file_units.append(_file_unit(spec, f, by_path, read))
        else:
            root = project_root(f.path, spec, by_path)
            if root is None:
                outside[spec.tool] += 1
            else:
                projects[(spec.tool, root)] = None
    units = file_units + [_project_unit(SPEC_BY_TOOL[t], r, files) for t, r in projects]
    reasons = [_no_tool(unsupported)] if unsupported else []
    reasons += [
        f"{n} file(s) for {tool} are in no project (no {' or '.join(SPEC_BY_TOOL[tool].markers)})"
        for tool, n in sorted(outside.items())
    ]
    return BuildPlan(tuple(units), dict(unsupported), tuple(reasons), not_code)


def _no_tool(unsupported: Mapping[str, int]) -> str:
    listed = ", ".join(
        f"{lang} ({n} file{'s' * (n != 1)})" for lang, n in sorted(unsupported.items())
    )
    return f"no build toolchain here for {listed}"


def project_root(path: str, spec: ToolSpec, files: Mapping[str, object]) -> str | None:
    """The nearest directory above `path` holding one of the spec's markers ("" = the
    repository root when it holds one, or when "" is itself a marker); None: no project."""
    directory = posixpath.dirname(path)
    while True:
        for marker in spec.markers:
            if marker and posixpath.join(directory, marker) in files:
                return directory
        if not directory:
            return "" if "" in spec.markers else None
        directory = posixpath.dirname(directory)


def _project_unit(spec: ToolSpec, root: str, files: Sequence[PlannedFile]) -> BuildUnit:
    inside = [f for f in files if not root or f.path.startswith(root + "/")]
    markers = {m for m in spec.markers if m}
    closure = [
        f for f in inside if f.language in spec.reads or posixpath.basename(f.path) in markers
    ]
    subjects = tuple(sorted(f.path for f in closure if f.language in spec.languages))
    return BuildUnit(spec.tool, root, subjects, tuple(sorted((f.path, f.oid) for f in closure)))


def _file_unit(
    spec: ToolSpec, f: PlannedFile, files: Mapping[str, PlannedFile], read: Read
) -> BuildUnit:
    closure = {f.path: f.oid}
    refused: list[Diagnostic] = []
    if spec.tool in ("gcc", "g++"):
        reached, refused = include_closure(f.path, files, read, spec.tool)
        closure.update({p: files[p].oid for p in reached})
    return BuildUnit(spec.tool, "", (f.path,), tuple(sorted(closure.items())), tuple(refused))


_INCLUDE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*([<"])([^">\n]+)[">]', re.MULTILINE)


def include_closure(
    path: str, files: Mapping[str, object], read: Read, tool: str = "gcc"
) -> tuple[set[str], list[Diagnostic]]:
    """The repository files the `#include`s of `path` reach, transitively, and a refusal for
    each include that names something outside the repository."""
    dirs = include_dirs(path)
    seen: set[str] = set()
    refused: list[Diagnostic] = []
    queue = deque([path])
    while queue:
        current = queue.popleft()
        data = read(current)
        for match in _INCLUDE.finditer(data):
            name = match.group(2).decode("utf-8", "replace").strip()
            line = data.count(b"\n", 0, match.start()) + 1
            quoted = match.group(1) == b'"'
            found = resolve_include(current, name, quoted, files, dirs)
            if found is None and _escapes(current, name, quoted, dirs):
                message = f"#include of {name!r} leaves the repository: refused"
                refused.append(Diagnostic(current, line, 1, line + 1, 1, "error", message, tool))
                continue
            if found is not None and found not in seen and found != path:
                seen.add(found)
                queue.append(found)
    return seen, refused


def include_dirs(subject: str) -> list[str]:
    """The `-I` directories of a C or C++ unit, in search order: `include/` in the subject's
    directory and each one above it, then the repository root ("")."""
    dirs, directory = [], posixpath.dirname(subject)
    while True:
        dirs.append(posixpath.join(directory, "include"))
        if not directory:
            return [*dirs, ""]
        directory = posixpath.dirname(directory)


def _escapes(including: str, name: str, quoted: bool, dirs: Sequence[str]) -> bool:
    """Whether the compiler, finding no repository file, would look outside the tree."""
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return True
    bases = ([posixpath.dirname(including)] if quoted else []) + list(dirs)
    return any(posixpath.normpath(posixpath.join(b, name)).startswith("../") for b in bases)


def resolve_include(
    including: str, name: str, quoted: bool, files: Mapping[str, object], dirs: Sequence[str]
) -> str | None:
    bases = ([posixpath.dirname(including)] if quoted else []) + list(dirs)
    for base in bases:
        candidate = posixpath.normpath(posixpath.join(base, name))
        if candidate in files:
            return candidate
    return None
