"""Commits made in a bare clone of the git cache and pushed with compare-and-swap (used by
pygit2_git_engine, which holds the clone's lock around every call here).

AWS resources: none; IAM actions: none.

Building: the base commit's tree is copied level by level through TreeBuilders with only the
changed entries replaced, so a commit writes one blob per changed file and one tree per
changed directory, never a worktree or an index. A changed file keeps its mode (executable,
symlink); a new one is a plain file.

Pushing, with the branch's move conditional on its value:
- to an https remote, through libgit2's smart protocol: `push_negotiation` sees the branch
  head the remote advertised and stops the push (nothing sent) unless it is `expected`;
  the server's receive-pack then moves the ref only if it still holds the old value the
  client sent (git's ref transactions), else reports the ref rejected. Either way
  BranchMoved, and the remote is as it was.
- to a local path (the local stack), not through libgit2's local transport, which moves the
  ref whatever it holds: the new objects are copied into the remote's object database, then
  the ref is locked (git's `.lock` file, which git and libgit2 writers respect), compared
  with `expected` and moved, in one reference transaction. A branch checked out in a
  repository with a worktree is refused, as git refuses it (receive.denyCurrentBranch).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pygit2
from pygit2.enums import FileMode

from chalicelib.adapters.pygit2_remote_calls import (
    CertificateTrust,
    TokenCallbacks,
    authenticated,
    display,
)
from chalicelib.domain.commits import Author, CommitMeta, FileChange
from chalicelib.errors import (
    AccessDenied,
    BranchMoved,
    BranchNotFound,
    InvalidRequest,
    RemoteNotFound,
    TransientError,
)

log = logging.getLogger(__name__)

_ZERO = "0" * 40
_FILE_MODES = (FileMode.BLOB, FileMode.BLOB_EXECUTABLE, FileMode.LINK)
# Rejections that mean the ref was not where the client said (git and GitHub wordings).
_STALE = ("failed to update ref", "failed to lock", "stale info", "fetch first", "non-fast")
NOT_FETCHED = "the base commit has not been fetched into the git cache"
MOVED = "the branch is no longer at the base commit"
REFUSED_UPDATE = "the remote refused to move the branch (is it protected?)"
CHECKED_OUT = "the branch is checked out in a repository with a worktree; push to a bare one"
BUSY = "the branch is being updated by someone else; retry"

_Changes = Mapping[tuple[str, ...], bytes | None]


def build_commit(
    repo: pygit2.Repository, base: str, changes: Sequence[FileChange], meta: CommitMeta
) -> str:
    parent = repo.get(base)
    if not isinstance(parent, pygit2.Commit):
        raise RemoteNotFound(NOT_FETCHED)
    nested = {tuple(c.path.split("/")): c.content for c in changes}
    tree = _apply(repo, parent.tree, nested, "") or repo.TreeBuilder().write()
    if tree == parent.tree_id:
        raise InvalidRequest("the changes leave the base tree as it is: nothing to commit")
    oid = repo.create_commit(
        None,
        _signature(meta.author, meta.time),
        _signature(meta.committer, meta.time),
        meta.message,
        tree,
        [parent.id],
    )
    return str(oid)


def _signature(who: Author, time: int) -> pygit2.Signature:
    return pygit2.Signature(who.name, who.email, time, 0)


def _apply(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: _Changes, prefix: str
) -> pygit2.Oid | None:
    """`changes` (keyed by path parts under `prefix`) applied to `tree`; None when the result
    holds nothing (git keeps no empty directory)."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    nested: dict[str, dict[tuple[str, ...], bytes | None]] = {}
    for parts, content in changes.items():
        name, path = parts[0], prefix + "/".join(parts)
        existing = builder.get(name)
        mode = None if existing is None else int(existing.filemode)
        if len(parts) > 1:
            if mode is not None and mode != FileMode.TREE:
                raise InvalidRequest(f"{path}: {prefix + name} is not a directory at the base")
            nested.setdefault(name, {})[parts[1:]] = content
        elif mode in (FileMode.TREE, FileMode.COMMIT):
            kind = "a directory" if mode == FileMode.TREE else "a submodule"
            raise InvalidRequest(f"{path} is {kind} at the base: change its files instead")
        elif content is None:
            if existing is None:
                raise InvalidRequest(f"cannot delete {path}: it is not in the base commit")
            builder.remove(name)
        else:
            keep = mode if mode in _FILE_MODES else FileMode.BLOB
            builder.insert(name, repo.create_blob(content), keep)
    for name, below in nested.items():
        existing = builder.get(name)
        subtree = None if existing is None else repo[existing.id].peel(pygit2.Tree)
        oid = _apply(repo, subtree, below, f"{prefix}{name}/")
        if oid is None:
            if existing is not None:
                builder.remove(name)
        else:
            builder.insert(name, oid, FileMode.TREE)
    return builder.write() if len(builder) else None


# --- pushing over https ------------------------------------------------------------------


class _PushCallbacks(TokenCallbacks):
    """One token's attempt at a push that may only move the branch from `expected`."""

    def __init__(self, token: str | None, trust: CertificateTrust, expected: str) -> None:
        super().__init__(token, trust)
        self.expected = expected
        self.rejected: str | None = None

    def push_negotiation(self, updates: list[pygit2.remotes.PushUpdate]) -> None:
        for update in updates:
            found = str(update.src)
            if found != self.expected:  # nothing is sent: the push stops here
                raise BranchMoved(MOVED, None if found == _ZERO else found)

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected = message


def push_remote(
    repo: pygit2.Repository,
    remote: str,
    branch: str,
    expected: str,
    sha: str,
    *,
    credentials: Sequence[str | None],
    proxy: str | None,
    trust: CertificateTrust,
) -> None:
    anonymous = repo.remotes.create_anonymous(remote)
    spec = f"{sha}:refs/heads/{branch}"

    def push(callbacks: pygit2.RemoteCallbacks) -> _PushCallbacks:
        assert isinstance(callbacks, _PushCallbacks)
        anonymous.push([spec], callbacks=callbacks, proxy=proxy)
        return callbacks

    def attempt(token: str | None, verdict: CertificateTrust) -> _PushCallbacks:
        return _PushCallbacks(token, verdict, expected)

    done = authenticated(remote, credentials, push, trust, callbacks=attempt)
    if done.rejected is None:
        return
    log.warning("%s rejected the update of %s: %s", display(remote), branch, done.rejected)
    if any(s in done.rejected.lower() for s in _STALE):
        raise BranchMoved(MOVED)  # the head it holds now: the caller asks (ls-remote)
    raise AccessDenied(REFUSED_UPDATE)


# --- pushing to a local path -------------------------------------------------------------


def push_local(repo: pygit2.Repository, path: str, branch: str, expected: str, sha: str) -> None:
    try:
        target = pygit2.Repository(path)
    except pygit2.GitError as exc:
        log.warning("cannot open %s to push: %s", path, exc)
        raise RemoteNotFound("the remote repository was not found") from exc
    ref = f"refs/heads/{branch}"
    _refuse_checked_out(target, ref)
    _copy_objects(repo, target, pygit2.Oid(hex=sha))
    try:
        with target.transaction() as txn:
            txn.lock_ref(ref)  # from here no git writer can move it until we are done
            current = target.references.get(ref)
            if current is None:
                raise BranchNotFound(f"branch {branch!r} was not found on the remote")
            if str(current.target) != expected:
                raise BranchMoved(MOVED, str(current.target))
            txn.set_target(ref, sha, message="strata: commit")
    except pygit2.GitError as exc:  # the ref is locked by another writer
        log.warning("cannot update %s of %s: %s", ref, path, exc)
        raise TransientError(BUSY) from exc


def _refuse_checked_out(target: pygit2.Repository, ref: str) -> None:
    if target.is_bare:
        return
    head = target.references.get("HEAD")
    symbolic = head is not None and head.type == pygit2.enums.ReferenceType.SYMBOLIC
    if symbolic and head is not None and head.target == ref:
        raise InvalidRequest(CHECKED_OUT)


def _copy_objects(source: pygit2.Repository, target: pygit2.Repository, top: pygit2.Oid) -> None:
    """Every object reachable from `top` that `target` lacks, each written after everything
    it references (depth-first post-order): an attempt that dies halfway leaves no object
    whose parts are missing, so the next one may stop its walk at any object it finds."""
    order: list[pygit2.Oid] = []
    seen: set[pygit2.Oid] = set()
    stack: list[tuple[pygit2.Oid, bool]] = [(top, False)]
    while stack:
        oid, expanded = stack.pop()
        if expanded:
            order.append(oid)
            continue
        if oid in seen or target.odb.exists(oid):
            continue
        seen.add(oid)
        stack.append((oid, True))
        stack.extend((child, False) for child in _references(source[oid]))
    for oid in order:
        kind, data = source.odb.read(oid)
        target.odb.write(kind, data)


def _references(obj: pygit2.Object) -> list[pygit2.Oid]:
    if isinstance(obj, pygit2.Commit):
        return [obj.tree_id, *obj.parent_ids]
    if isinstance(obj, pygit2.Tree):  # a submodule's commit is another repository's
        return [e.id for e in obj if int(e.filemode) != FileMode.COMMIT]
    return []
