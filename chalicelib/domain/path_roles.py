"""What a file is for, judged from its path: the code itself, or tests, docs, examples,
benchmarks, scripts, generated or vendored files around it.

Search ranks the code first unless the query asks for one of the others ("add a test for
...", "document ..."): a test mentions everything it tests, so plain BM25 puts a test file
first for a quarter of change requests (bench/retrieval_bench.py measures the penalty).
Vendored and generated directories are not indexed at all (`languages.is_vendored_or_generated`);
the roles here cover what slipped through by file name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from chalicelib.domain.languages import is_vendored_or_generated
from chalicelib.domain.tokens import tokenize

SOURCE = "source"
TEST = "test"
DOCS = "docs"
EXAMPLE = "example"
BENCH = "bench"
SCRIPT = "script"
GENERATED = "generated"
VENDORED = "vendored"
DECLARATIONS = "declarations"  # TypeScript declaration files: the types of code kept elsewhere

_DIRECTORY_ROLES = {
    TEST: {"test", "tests", "testing", "__tests__", "spec", "specs", "testdata", "fixtures"},
    DOCS: {"doc", "docs", "documentation", "man", "website", "site"},
    EXAMPLE: {"example", "examples", "sample", "samples", "demo", "demos", "tutorial"}
    | {"playground", "playgrounds"},
    BENCH: {"bench", "benches", "benchmark", "benchmarks", "perf"},
    SCRIPT: {"script", "scripts", "tools", "tool", "ci", ".github", "hack", "contrib"},
}
# Words of a directory's name (split as the tokenizer splits: on `-`, `.`, `_` and case changes)
# that give it a role: Gradle/Kotlin source sets (`jvmTest`, `androidTest`), .NET projects
# (`Polly.Core.Tests`), modules (`okhttp-testing-support`, `maven-tests`), `_examples`.
# Fewer words than `_DIRECTORY_ROLES`: "spec" or "site" inside a name (`openapi-spec`) is
# no sign of a role.
_DIRECTORY_WORDS = {
    TEST: {"test", "tests", "testing"},
    EXAMPLE: {"example", "examples", "sample", "samples"},
    BENCH: {"benchmark", "benchmarks", "benchsuite"},
}
_TEST_FILE = re.compile(
    r"^(test_.*|.*_test\.\w+|.*_tests\.\w+|.*\.(test|spec)\.[cm]?[jt]sx?|conftest\.py|"
    r"tests?\.\w+|.*Tests?\.(java|kt|cs|swift))$"
)
_TEST_DIRECTORY = re.compile(r"^__tests?_?\w*__$")  # __tests__, __tests_dts__, __test_utils__
_DOC_SUFFIXES = (".md", ".rst", ".txt", ".adoc", ".markdown")
_DECLARATION_SUFFIXES = (".d.ts", ".d.mts", ".d.cts")
_BUILD_FILES = {"setup.py", "noxfile.py", "tox.ini", "makefile", "dodo.py", "fabfile.py"}
# Query words that ask for each role (matched against the query's terms).
_ASKS = {
    TEST: {"test", "tests", "testing", "unittest", "pytest", "spec", "specs", "fixture"},
    DOCS: {"doc", "docs", "documentation", "readme", "docstring", "changelog", "tutorial"},
    EXAMPLE: {"example", "examples", "sample", "demo", "playground"},
    BENCH: {"bench", "benchmark", "benchmarks"},
    SCRIPT: {"script", "scripts", "ci", "workflow", "tooling", "makefile"},
    DECLARATIONS: {"type", "types", "typing", "typings", "declaration", "declarations", "dts"},
}


def path_role(path: str) -> str:
    """The role of the file at `path` (one of the module's constants)."""
    parts = path.strip("/").split("/")
    lowered = [p.lower() for p in parts[:-1]]
    name = parts[-1]
    vendored = is_vendored_or_generated(path)
    if vendored:
        return vendored
    for role, names in _DIRECTORY_ROLES.items():
        if any(d in names for d in lowered):
            return role
    words = [set(tokenize(d)) for d in parts[:-1]]
    for role, names in _DIRECTORY_WORDS.items():
        if any(w & names for w in words):
            return role
    if _TEST_FILE.match(name) or any(_TEST_DIRECTORY.match(d) for d in lowered):
        return TEST
    if name.lower().endswith(_DOC_SUFFIXES):
        return DOCS
    if name.lower().endswith(_DECLARATION_SUFFIXES):
        return DECLARATIONS
    if name.lower() in _BUILD_FILES:
        return SCRIPT
    return SOURCE


def asked_roles(query: str) -> frozenset[str]:
    """The non-source roles a query asks for by name (those are not penalised)."""
    terms = set(tokenize(query))
    return frozenset(role for role, words in _ASKS.items() if terms & words)


def demoted(roles: Iterable[str], asked: frozenset[str]) -> list[bool]:
    """For each role: is it ranked after the code (not source and not asked for)?"""
    return [r != SOURCE and r not in asked for r in roles]
