"""An in-memory GitWriter over FakeGitEngine's remotes: commits are path -> bytes maps made in
the writer's cache, pushed with compare-and-swap on the branch (the contract tests hold it
and Pygit2GitEngine to the same assertions)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from chalicelib.domain.commits import CommitMeta, FileChange
from chalicelib.errors import BranchMoved, BranchNotFound, InvalidRequest, RemoteNotFound
from tests.fakes.aws import NOT_FETCHED, FakeGitEngine, FileValue, Submodule

MOVED = "the branch is no longer at the base commit"


class FakeGitWriter:
    """Writes into `git`'s cache (the commits it made, by remote) and pushes to its remotes."""

    def __init__(self, git: FakeGitEngine) -> None:
        self.git = git
        self.made: dict[tuple[str, str], tuple[dict[str, FileValue], str, str]] = {}
        self.pushes = 0

    def write_commit(
        self, remote: str, base: str, changes: Sequence[FileChange], meta: CommitMeta
    ) -> str:
        r = self.git.remotes.get(remote)
        if r is None or base not in self.git.cached.get(remote, set()):
            raise RemoteNotFound(NOT_FETCHED)
        tree = dict(r.commits[base])
        for change in changes:
            _apply(tree, change)
        if tree == r.commits[base]:
            raise InvalidRequest("the changes leave the base tree as it is: nothing to commit")
        shape = (base, sorted((p, repr(v)) for p, v in tree.items()), repr(meta))
        sha = hashlib.sha1(repr(shape).encode(), usedforsecurity=False).hexdigest()
        self.made[(remote, sha)] = (tree, base, meta.message)
        return sha

    def push(
        self, remote: str, branch: str, expected: str, sha: str, credentials: Sequence[str | None]
    ) -> None:
        r = self.git._remote(remote, credentials)
        if branch not in r.branches:
            raise BranchNotFound(f"branch {branch!r} was not found on the remote")
        if r.branches[branch] != expected:
            raise BranchMoved(MOVED, r.branches[branch])
        tree, parent, message = self.made[(remote, sha)]
        r.commits[sha] = tree
        r.parents[sha] = parent
        r.messages[sha] = message
        r.branches[branch] = sha
        self.git.cached.setdefault(remote, set()).add(sha)
        self.pushes += 1


def _apply(tree: dict[str, FileValue], change: FileChange) -> None:
    path = change.path
    parts = path.split("/")
    for n in range(1, len(parts)):
        above = "/".join(parts[:n])
        if above in tree:
            raise InvalidRequest(f"{path}: {above} is not a directory at the base")
    if any(p.startswith(path + "/") for p in tree) or isinstance(tree.get(path), Submodule):
        raise InvalidRequest(f"{path} is a directory or a submodule at the base")
    if change.content is None:
        if path not in tree:
            raise InvalidRequest(f"cannot delete {path}: it is not in the base commit")
        del tree[path]
    else:
        tree[path] = change.content
