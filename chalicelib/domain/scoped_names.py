"""Resolve a name used under scopes (Lean namespaces and opens) to a declared name. Pure.

`resolve(name, scopes, declared)` tries `scope.name` for each scope in order (`name` itself
for the root scope "") and returns the first one declared. `_root_.x` only tries `x`.

One fallback: when the whole name resolves nowhere, its longest dotted prefix that does is
returned. Lean reads `my_lemma.symm` as `Eq.symm my_lemma` (generalised field notation on a
constant), so the use depends on `my_lemma`. Names bound through a namespace alias or through
the type of a local (`p.add` with `p : Point`) are not resolved: they stay external (None).

Nothing resolves to an example: its generated name (`example@12`) holds an `@`, which no
identifier can spell.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

ROOT = "_root_."


def _lookup(name: str, scopes: Sequence[str], declared: Set[str]) -> str | None:
    if name.startswith(ROOT):
        bare = name.removeprefix(ROOT)
        return bare if bare in declared else None
    for scope in scopes:
        candidate = f"{scope}.{name}" if scope else name
        if candidate in declared:
            return candidate
    return None


def resolve(name: str, scopes: Sequence[str], declared: Set[str]) -> str | None:
    """The declared name `name` refers to under `scopes`, or None (an external name)."""
    if not name or "@" in name:
        return None
    found = _lookup(name, scopes, declared)
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        if found is not None:
            break
        found = _lookup(".".join(parts[:end]), scopes, declared)
    return found
