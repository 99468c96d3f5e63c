"""Languages by path, and which paths are vendored or generated."""

from __future__ import annotations

import pytest

from chalicelib.domain.languages import extension_of, is_vendored_or_generated, language_for


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("src/app.py", "python"),
        ("stubs/app.pyi", "python"),
        ("web/index.js", "javascript"),
        ("web/index.mjs", "javascript"),
        ("web/App.jsx", "javascript"),
        ("web/api.ts", "typescript"),
        ("web/App.tsx", "tsx"),
        ("cmd/main.go", "go"),
        ("src/lib.rs", "rust"),
        ("src/Main.java", "java"),
        ("src/main.c", "c"),
        ("include/util.h", "c"),
        ("src/main.cpp", "cpp"),
        ("src/main.CC", "cpp"),
        ("src/Program.cs", "csharp"),
        ("lib/task.rb", "ruby"),
        ("index.php", "php"),
        ("app/Main.kt", "kotlin"),
        ("Sources/App.swift", "swift"),
        ("src/Main.scala", "scala"),
        ("scripts/run.sh", "shell"),
        ("Mathlib/Data/Nat.lean", "lean"),
        ("README.md", "markdown"),
        ("package.json", "json"),
        ("config.yml", "yaml"),
        ("ci/config.yaml", "yaml"),
        ("pyproject.toml", "toml"),
        ("site/index.html", "html"),
        ("site/style.css", "css"),
        ("db/schema.sql", "sql"),
        ("Dockerfile", "dockerfile"),
        ("docker/Dockerfile.dev", "dockerfile"),
        ("Makefile", "makefile"),
        ("Gemfile", "ruby"),
        ("LICENSE", "text"),
        ("notes.txt", "text"),
        ("data.unknownext", "text"),
        (".gitignore", "text"),
    ],
)
def test_language_for_path(path: str, language: str) -> None:
    assert language_for(path) == language


@pytest.mark.parametrize(
    ("path", "extension"),
    [
        ("a/b/c.py", ".py"),
        ("README.MD", ".md"),
        ("archive.tar.gz", ".gz"),
        ("Makefile", ""),
        (".bashrc", ""),
        ("dir.d/file", ""),
    ],
)
def test_extension_of_path(path: str, extension: str) -> None:
    assert extension_of(path) == extension


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("node_modules/react/index.js", "vendored"),
        ("web/node_modules/x/dist/y.js", "vendored"),
        ("vendor/github.com/pkg/errors/errors.go", "vendored"),
        ("third_party/zlib/zlib.h", "vendored"),
        (".git/config", "vendored"),
        ("dist/bundle.js", "generated"),
        ("build/lib/app.py", "generated"),
        ("pkg/__pycache__/mod.cpython-311.pyc", "generated"),
        ("static/app.min.js", "generated"),
        ("static/app.min.css", "generated"),
        ("static/app.js.map", "generated"),
        ("package-lock.json", "generated"),
        ("web/yarn.lock", "generated"),
        ("poetry.lock", "generated"),
        ("Cargo.lock", "generated"),
        ("go.sum", "generated"),
        ("proto/api_pb2.py", "generated"),
        ("proto/api.pb.go", "generated"),
        ("src/client.generated.ts", "generated"),
    ],
)
def test_vendored_or_generated_paths_name_the_reason(path: str, reason: str) -> None:
    assert is_vendored_or_generated(path) == reason


@pytest.mark.parametrize(
    "path",
    ["src/app.py", "scripts/build", "docs/vendor.md", "src/builder/main.go", "go.mod", "app.js"],
)
def test_ordinary_source_paths_are_indexed(path: str) -> None:
    assert is_vendored_or_generated(path) is None
