"""Which repository files an import statement may name, per language (most likely first)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

_JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts")


def _python(path: str, spec: str) -> list[str]:
    dots = len(spec) - len(spec.lstrip("."))
    module = spec.lstrip(".").replace(".", "/")
    if dots:  # relative: from the importing package, one level up per extra dot
        base = posixpath.dirname(path)
        for _ in range(dots - 1):
            base = posixpath.dirname(base)
        stem = posixpath.join(base, module) if module else base
        return [f"{stem}.py", f"{stem}/__init__.py"]
    return [
        f"{module}.py",
        f"{module}/__init__.py",
        f"src/{module}.py",
        f"src/{module}/__init__.py",
    ]


def _javascript(path: str, spec: str) -> list[str]:
    if not spec.startswith("."):
        return []  # a package, not a file of this repository
    stem = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
    return (
        [stem]
        + [stem + ext for ext in _JS_EXTENSIONS]
        + [f"{stem}/index{ext}" for ext in _JS_EXTENSIONS]
    )


def _c_include(path: str, spec: str) -> list[str]:
    spec = spec.strip('"<>')
    return [
        posixpath.normpath(posixpath.join(posixpath.dirname(path), spec)),
        spec,
        f"include/{spec}",
        f"src/{spec}",
    ]


def _lean(path: str, spec: str) -> list[str]:
    return [spec.replace(".", "/") + ".lean"]


_RULES: dict[str, Callable[[str, str], list[str]]] = {
    "python": _python,
    "javascript": _javascript,
    "typescript": _javascript,
    "tsx": _javascript,
    "c": _c_include,
    "cpp": _c_include,
    "lean": _lean,
}


def import_candidates(path: str, language: str, spec: str) -> list[str]:
    rule = _RULES.get(language)
    if rule is None or not spec:
        return []
    return [c for c in rule(path, spec) if c and not c.startswith("..")]
