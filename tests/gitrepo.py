"""Build real git repositories for tests, straight into the object database.

Every commit uses a fixed author and time, so the same calls give the same shas. Trees are
built in memory with pygit2 TreeBuilders: the working tree is never checked out and does not
matter (serve these repos by path, or through tests/integration/git_http_server.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

_SIGNATURE = pygit2.Signature("Strata Test", "test@strata.invalid", 1_700_000_000, 0)

# What goes at a path: (oid, filemode), or None to delete it.
_Change = tuple[pygit2.Oid, int] | None


def init_repo(
    path: Path,
    files: Mapping[str, bytes | str],
    *,
    branch: str = "main",
    message: str = "initial",
    bare: bool = False,
) -> str:
    """Create a repo at path (NON-bare unless `bare`: a remote that takes pushes) with one
    commit containing files (nested paths allowed); HEAD -> refs/heads/{branch}. Returns the
    commit sha (hex)."""
    repo = pygit2.init_repository(str(path), bare=bare, initial_head=branch)
    changes = {name: (_blob(repo, data), FileMode.BLOB) for name, data in files.items()}
    return _commit(repo, changes, branch=branch, message=message)


def commit_files(
    path: Path,
    changes: Mapping[str, bytes | str | None],
    *,
    branch: str = "main",
    message: str = "change",
) -> str:
    """New commit on branch with files added/changed (None = delete). Returns the sha."""
    repo = pygit2.Repository(str(path))
    resolved: dict[str, _Change] = {
        name: None if data is None else (_blob(repo, data), FileMode.BLOB)
        for name, data in changes.items()
    }
    return _commit(repo, resolved, branch=branch, message=message)


def add_submodule_entry(path: Path, sub_path: str, commit_sha: str, *, branch: str = "main") -> str:
    """Commit a gitlink (mode 0o160000) entry at sub_path (no .gitmodules needed). Returns sha."""
    repo = pygit2.Repository(str(path))
    change = (pygit2.Oid(hex=commit_sha), FileMode.COMMIT)
    return _commit(repo, {sub_path: change}, branch=branch, message=f"add submodule {sub_path}")


def add_symlink(path: Path, link_path: str, target: str, *, branch: str = "main") -> str:
    """Commit a symlink (mode 0o120000) at link_path pointing to target. Returns sha."""
    repo = pygit2.Repository(str(path))
    change = (_blob(repo, target), FileMode.LINK)
    return _commit(repo, {link_path: change}, branch=branch, message=f"add symlink {link_path}")


def _blob(repo: pygit2.Repository, data: bytes | str) -> pygit2.Oid:
    return repo.create_blob(data.encode() if isinstance(data, str) else data)


def _commit(
    repo: pygit2.Repository, changes: Mapping[str, _Change], *, branch: str, message: str
) -> str:
    ref_name = f"refs/heads/{branch}"
    ref = repo.references.get(ref_name)
    parents = [] if ref is None else [ref.target]
    base = None if ref is None else repo[ref.target].peel(pygit2.Tree)
    tree = _build_tree(repo, base, {tuple(p.split("/")): c for p, c in changes.items()})
    if tree is None:  # every file deleted: git still wants a tree
        tree = repo.TreeBuilder().write()
    oid = repo.create_commit(ref_name, _SIGNATURE, _SIGNATURE, message, tree, parents)
    return str(oid)


def _build_tree(
    repo: pygit2.Repository,
    base: pygit2.Tree | None,
    changes: Mapping[tuple[str, ...], _Change],
) -> pygit2.Oid | None:
    """Apply changes keyed by path parts under base; None when the result is empty."""
    builder = repo.TreeBuilder() if base is None else repo.TreeBuilder(base)
    nested: dict[str, dict[tuple[str, ...], _Change]] = {}
    for parts, change in changes.items():
        if len(parts) > 1:
            nested.setdefault(parts[0], {})[parts[1:]] = change
        elif change is None:
            if builder.get(parts[0]) is not None:
                builder.remove(parts[0])
        else:
            builder.insert(parts[0], change[0], change[1])
    for name, sub_changes in nested.items():
        existing = builder.get(name)
        is_tree = existing is not None and existing.type_str == "tree"
        sub_base = repo[existing.id].peel(pygit2.Tree) if is_tree else None
        sub_tree = _build_tree(repo, sub_base, sub_changes)
        if sub_tree is None:
            if existing is not None:
                builder.remove(name)
        else:
            builder.insert(name, sub_tree, FileMode.TREE)
    return builder.write() if len(builder) else None
