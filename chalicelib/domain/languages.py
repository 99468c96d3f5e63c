"""Which language a path holds, and whether it is vendored or generated. Data-driven, pure.

Paths are git paths: `/`-separated, relative to the repository root. Matching is on the
lowercased path, so `README.MD` and `Makefile`/`makefile` behave alike.
"""

from __future__ import annotations

import posixpath

# Extension (lowercase, with the dot) -> language.
EXTENSION_LANGUAGES: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp",
    ".cs": "csharp", ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby", ".php": "php",
    ".kt": "kotlin", ".kts": "kotlin", ".swift": "swift", ".scala": "scala", ".sc": "scala",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell", ".fish": "shell",
    ".lean": "lean", ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".rst": "restructuredtext", ".json": "json", ".jsonc": "json", ".json5": "json",
    ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".ini": "ini", ".cfg": "ini",
    ".html": "html", ".htm": "html", ".xml": "xml", ".svg": "xml",
    ".css": "css", ".scss": "scss", ".sass": "scss", ".less": "less",
    ".sql": "sql", ".proto": "protobuf", ".graphql": "graphql", ".gql": "graphql",
    ".lua": "lua", ".pl": "perl", ".pm": "perl", ".r": "r", ".jl": "julia",
    ".hs": "haskell", ".ml": "ocaml", ".mli": "ocaml", ".ex": "elixir", ".exs": "elixir",
    ".erl": "erlang", ".clj": "clojure", ".dart": "dart", ".zig": "zig", ".nim": "nim",
    ".vue": "vue", ".svelte": "svelte", ".tf": "hcl", ".hcl": "hcl",
    ".dockerfile": "dockerfile", ".mk": "makefile", ".cmake": "cmake",
    ".ps1": "powershell", ".bat": "batch", ".cmd": "batch",
    ".tex": "latex", ".txt": "text",
}  # fmt: skip

# Whole file name (lowercase) -> language; checked before the extension.
FILENAME_LANGUAGES: dict[str, str] = {
    "dockerfile": "dockerfile", "containerfile": "dockerfile",
    "makefile": "makefile", "gnumakefile": "makefile",
    "cmakelists.txt": "cmake", "gemfile": "ruby", "rakefile": "ruby", "podfile": "ruby",
    "vagrantfile": "ruby", "jenkinsfile": "groovy", "build.gradle": "groovy",
    "pipfile": "toml", "cargo.lock": "toml", "poetry.lock": "toml", "uv.lock": "toml",
    ".bashrc": "shell", ".bash_profile": "shell", ".zshrc": "shell", ".profile": "shell",
    "lakefile.lean": "lean", "lean-toolchain": "text",
}  # fmt: skip

# File-name prefixes (lowercase) for families such as `Dockerfile.dev`.
FILENAME_PREFIX_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("dockerfile.", "dockerfile"),
    ("makefile.", "makefile"),
)

# Directory names whose contents are someone else's code or tool state.
VENDORED_DIRS: frozenset[str] = frozenset(
    {"node_modules", "vendor", "vendors", "third_party", "third-party", "thirdparty",
     "bower_components", "jspm_packages", ".git", ".hg", ".svn", ".venv", "venv",
     "site-packages", ".tox", ".nox", ".yarn"}
)  # fmt: skip

# Directory names whose contents are produced by a build.
GENERATED_DIRS: frozenset[str] = frozenset(
    {"dist", "build", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
     ".next", ".nuxt", ".gradle", ".eggs", "htmlcov", ".terraform", ".lake"}
)  # fmt: skip

# Whole file names (lowercase) written by package managers.
GENERATED_FILENAMES: frozenset[str] = frozenset(
    {"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
     "poetry.lock", "pipfile.lock", "uv.lock", "pdm.lock", "cargo.lock", "go.sum",
     "composer.lock", "gemfile.lock", "podfile.lock", "packages.lock.json", "flake.lock",
     "mix.lock", "pubspec.lock", "lake-manifest.json"}
)  # fmt: skip

# File-name endings (lowercase) of minified, compiled or code-generated files.
GENERATED_SUFFIXES: tuple[str, ...] = (
    ".min.js", ".min.css", ".map", "_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".pb.go",
    ".pb.cc", ".pb.h", ".pb.swift", "_grpc.pb.go", ".g.dart", ".freezed.dart", ".pyc",
    ".pyo", ".class", ".designer.cs",
)  # fmt: skip

# Substrings of the file name (lowercase) that mark generated files: `api.generated.ts`.
GENERATED_INFIXES: tuple[str, ...] = (".generated.", "_generated.", ".gen.")

VENDORED = "vendored"
GENERATED = "generated"


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")).lower()


def extension_of(path: str) -> str:
    """The file name's last extension, lowercased (`.py`); "" when there is none (`.bashrc`)."""
    return posixpath.splitext(_basename(path))[1]


def language_for(path: str) -> str:
    """The language of a path by well-known file name, then extension; "text" if unknown."""
    name = _basename(path)
    if name in FILENAME_LANGUAGES:
        return FILENAME_LANGUAGES[name]
    for prefix, language in FILENAME_PREFIX_LANGUAGES:
        if name.startswith(prefix):
            return language
    return EXTENSION_LANGUAGES.get(extension_of(name), "text")


def is_vendored_or_generated(path: str) -> str | None:
    """Why a path should not be indexed ("vendored" or "generated"), or None if it should.

    Directory rules look at every directory of the path, not at the file name itself, so a
    script called `build` is indexed while everything under `build/` is not. A vendored
    directory wins over a generated one (`node_modules/x/dist/y.js` is vendored).
    """
    parts = path.strip("/").lower().split("/")
    directories, name = parts[:-1], parts[-1]
    if any(d in VENDORED_DIRS for d in directories):
        return VENDORED
    if any(d in GENERATED_DIRS for d in directories):
        return GENERATED
    if name in GENERATED_FILENAMES or name.endswith(GENERATED_SUFFIXES):
        return GENERATED
    if any(infix in name for infix in GENERATED_INFIXES):
        return GENERATED
    return None
