"""GitEngine over pygit2 (libgit2): reads remotes through a bounded LRU cache of bare clones;
as the GitWriter, it also builds commits in a clone and pushes them (pygit2_commits).

AWS resources: none; IAM actions: none. It writes only under the configured cache directory
(/tmp on Lambda) and talks to git hosts over outbound HTTPS, only through the egress proxy
(git_egress_proxy: allow-listed host names, public addresses, the address it checked): every
operation that connects (ls-remote in `resolve_head`, `fetch`) passes libgit2 `proxy=`, and
libgit2 sends each connection there, one that follows a redirect too. Plain HTTP cannot go
through that proxy, so it is refused. An absolute local path is read only when it lies under
one of `local_roots` once its symlinks are resolved (the local stack); none are allowed by
default. Every refusal, and every remote the proxy cannot reach, is RemoteRefused with one
generic message (pygit2_remote_calls).

Cache layout: `<cache_dir>/<sha256(remote)[:24]>/` is one bare clone per remote, never checked
out, with a `strata-last-used` marker whose mtime orders eviction; `<cache_dir>/scratch.git`
is an empty bare repository that hosts the anonymous remotes of `resolve_head` (ls-remote).
Tokens are tried in order and never appear in an exception message (pygit2_remote_calls).

Exception messages are written for users and stored as a repository's `error`: they never
name the remote, a path or libgit2's own text (those go to the log). A condition a retry
cannot fix fails at once: a shallow remote, missing objects, a missing branch, a commit not
on its branch (RepositoryUnreadable, BranchNotFound, CommitNotOnBranch).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import FileMode
from pygit2.remotes import RemoteHead

from chalicelib.adapters.git_egress_proxy import EgressProxy
from chalicelib.adapters.pygit2_commits import build_commit, push_local, push_remote
from chalicelib.adapters.pygit2_history import walk_history
from chalicelib.adapters.pygit2_remote_calls import (
    MISSING_OBJECTS,
    REMOTE_NOT_FOUND,
    CertificateTrust,
    authenticated,
    display,
    libgit2_verdict,
)
from chalicelib.domain.commits import CommitMeta, FileChange
from chalicelib.domain.history import CommitChange
from chalicelib.domain.models import TreeEntry
from chalicelib.domain.remote_policy import REFUSED_REMOTE, under_roots
from chalicelib.errors import (
    BranchNotFound,
    CommitNotOnBranch,
    InvalidRequest,
    RemoteNotFound,
    RemoteRefused,
    RepositoryUnreadable,
    TransientError,
)
from chalicelib.observability import traced

log = logging.getLogger(__name__)

_MARKER = "strata-last-used"
_SCRATCH = "scratch.git"
_CLONE_NAME = re.compile(r"[0-9a-f]{24}")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
SHALLOW = "the repository is a shallow clone; Strata needs its full history"
NOT_FETCHED = "the commit has not been fetched into the git cache"
CACHE_UNREADABLE = "the git cache could not be read"


class Pygit2GitEngine:
    """Implements ports.GitEngine and ports.GitWriter (pygit2_commits: commits written in the
    cache, pushed with compare-and-swap). Safe for threads fetching different remotes; the
    calls on one remote's clone that write (fetch, write_commit, push) take turns."""

    def __init__(
        self,
        cache_dir: str,
        max_cache_bytes: int,
        *,
        egress: EgressProxy,
        local_roots: Sequence[str] = (),
        certificate_trust: CertificateTrust = libgit2_verdict,  # tests only: self-signed
    ) -> None:
        self._root = Path(cache_dir)
        self._max_bytes = max_cache_bytes
        self._egress = egress
        self._local_roots = tuple(local_roots)
        self._trust = certificate_trust
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._evicting = threading.Lock()  # one pass at a time: stale totals over-evict

    @traced
    def resolve_head(
        self, remote: str, branch: str | None, credentials: Sequence[str | None]
    ) -> tuple[str, str]:
        if branch is not None:
            _check_branch(branch)
        proxy = self._check_remote(remote)

        def list_heads(callbacks: pygit2.RemoteCallbacks) -> dict[str, RemoteHead]:
            anonymous = self._scratch().remotes.create_anonymous(remote)
            heads = anonymous.list_heads(callbacks=callbacks, proxy=proxy)
            return {head.name: head for head in heads if head.name}

        heads = authenticated(remote, credentials, list_heads, self._trust)
        return _pick_branch(heads, branch)

    @traced
    def fetch(self, remote: str, branch: str, sha: str, credentials: Sequence[str | None]) -> None:
        _check_branch(branch)
        _check_object_id(sha)
        proxy = self._check_remote(remote)
        path = self._clone_path(remote)
        with self._lock_for(path):
            repo = _open_or_init(path)
            if not _has_commit(repo, sha):  # already here: no network at all
                _refuse_shallow_source(remote)
                refspec = f"+refs/heads/{branch}:refs/heads/{branch}"
                anonymous = repo.remotes.create_anonymous(remote)
                authenticated(
                    remote,
                    credentials,
                    lambda cb: anonymous.fetch([refspec], callbacks=cb, proxy=proxy),
                    self._trust,
                )
                if _is_shallow(repo):
                    raise RepositoryUnreadable(SHALLOW)
                _require_commit(repo, remote, branch, sha)
            _touch(path)
        self._evict(keep=path)

    @traced
    def list_tree(self, remote: str, sha: str) -> Iterator[TreeEntry]:
        # Not a generator itself, so a missing clone or commit raises at the call.
        _check_object_id(sha)
        repo = self._open_cached(remote)
        commit = repo.get(sha)
        if not isinstance(commit, pygit2.Commit):
            log.warning("commit %s of %s is not in the git cache", sha, display(remote))
            raise RemoteNotFound(NOT_FETCHED)
        return _guarded_walk(repo, commit, remote)

    def read_blob(self, remote: str, oid: str) -> bytes:
        _check_object_id(oid)
        repo = self._open_cached(remote)
        try:
            blob = repo.get(oid)
        except pygit2.GitError as exc:
            log.warning("cannot read blob %s of %s: %s", oid, display(remote), exc)
            raise TransientError(CACHE_UNREADABLE) from exc
        if not isinstance(blob, pygit2.Blob):
            log.warning("blob %s of %s is not in the git cache", oid, display(remote))
            raise RemoteNotFound("the blob has not been fetched into the git cache")
        return bytes(blob.data)

    @traced
    def history(
        self, remote: str, sha: str, since: str | None, limit: int
    ) -> list[CommitChange] | None:
        _check_object_id(sha)
        if since is not None:
            _check_object_id(since)
        repo = self._open_cached(remote)
        try:
            return walk_history(repo, sha, since, limit)
        except (pygit2.GitError, KeyError, ValueError) as exc:
            raise _unreadable(repo, remote, "history", exc) from exc

    @traced
    def is_ancestor(self, remote: str, ancestor: str, descendant: str) -> bool | None:
        """From the git cache alone (no network): True when `ancestor` is `descendant` or
        reachable from it, False when not, None when either commit is not in the cache."""
        _check_object_id(ancestor)
        _check_object_id(descendant)
        path = self._clone_path(remote)
        if not (path / "HEAD").is_file():
            return None
        try:
            repo = pygit2.Repository(str(path))
            if not (_has_commit(repo, ancestor) and _has_commit(repo, descendant)):
                return None
            return ancestor == descendant or bool(repo.descendant_of(descendant, ancestor))
        except (pygit2.GitError, KeyError, ValueError) as exc:  # evicted, or a broken clone
            log.warning("cannot compare commits of %s: %s", display(remote), exc)
            return None

    @traced
    def write_commit(
        self, remote: str, base: str, changes: Sequence[FileChange], meta: CommitMeta
    ) -> str:
        _check_object_id(base)
        with self._lock_for(self._clone_path(remote)):
            repo = self._open_cached(remote)
            try:
                return build_commit(repo, base, changes, meta)
            except (pygit2.GitError, KeyError) as exc:
                raise _unreadable(repo, remote, "base tree", exc) from exc

    @traced
    def push(
        self, remote: str, branch: str, expected: str, sha: str, credentials: Sequence[str | None]
    ) -> None:
        _check_branch(branch)
        _check_object_id(expected)
        _check_object_id(sha)
        proxy = self._check_remote(remote)
        with self._lock_for(self._clone_path(remote)):
            repo = self._open_cached(remote)
            if os.path.isabs(remote):
                push_local(repo, remote, branch, expected, sha)
            else:
                push_remote(
                    repo,
                    remote,
                    branch,
                    expected,
                    sha,
                    credentials=credentials,
                    proxy=proxy,
                    trust=self._trust,
                )
            # The cache follows: a fetch of `sha` on this branch needs no network.
            repo.references.create(f"refs/heads/{branch}", sha, force=True)

    def _check_remote(self, remote: str) -> str | None:
        """Refuse a remote this engine must not read; the proxy libgit2 must use for it (None
        for a local path: no network)."""
        if os.path.isabs(remote):
            if not under_roots(os.path.realpath(remote), self._local_roots):
                log.warning("refused %s: not under a local root", remote)
                raise RemoteRefused(REFUSED_REMOTE)
            # libgit2 reports a missing local path as "unsupported URL protocol"
            if not os.path.isdir(remote):
                log.warning("no directory at %s", remote)
                raise RemoteNotFound(REMOTE_NOT_FOUND)
            return None
        parts = urlsplit(remote)
        if parts.scheme == "http":  # libgit2 proxies only https (CONNECT): never direct
            log.warning(
                "refused %s: plain http cannot go through the egress proxy", display(remote)
            )
            raise RemoteRefused(REFUSED_REMOTE)
        if parts.scheme != "https" or not parts.hostname:
            raise InvalidRequest("unsupported remote: use https or a local path")
        return self._egress.url

    def _clone_path(self, remote: str) -> Path:
        return self._root / hashlib.sha256(remote.encode()).hexdigest()[:24]

    def _lock_for(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(str(path), threading.Lock())

    def _scratch(self) -> pygit2.Repository:
        path = self._root / _SCRATCH
        with self._lock_for(path):
            return _open_or_init(path)

    def _open_cached(self, remote: str) -> pygit2.Repository:
        path = self._clone_path(remote)
        if not (path / "HEAD").is_file():
            log.warning("%s is not in the git cache", display(remote))
            raise RemoteNotFound("the repository has not been fetched into the git cache")
        _touch(path)
        try:
            return pygit2.Repository(str(path))
        except pygit2.GitError as exc:
            log.warning("cannot open the git cache of %s: %s", display(remote), exc)
            raise TransientError(CACHE_UNREADABLE) from exc

    def _evict(self, keep: Path) -> None:
        """Delete least recently used clones, never `keep`, until the cache fits."""
        with self._evicting:
            total = _disk_usage(self._root)
            names = (p for p in self._root.iterdir() if _CLONE_NAME.fullmatch(p.name))
            for clone in sorted((p for p in names if p != keep), key=_last_used):
                if total <= self._max_bytes:
                    return
                lock = self._lock_for(clone)
                if not lock.acquire(blocking=False):  # a fetch is using it right now
                    continue
                try:
                    total -= _disk_usage(clone)
                    shutil.rmtree(clone, ignore_errors=True)
                finally:
                    lock.release()


def _pick_branch(heads: dict[str, RemoteHead], branch: str | None) -> tuple[str, str]:
    if branch is not None:
        candidates = [f"refs/heads/{branch}"]
    elif "HEAD" in heads and heads["HEAD"].symref_target:
        candidates = [str(heads["HEAD"].symref_target)]
    else:  # old servers do not advertise the HEAD symref
        candidates = ["refs/heads/main", "refs/heads/master"]
    for ref in candidates:
        if ref in heads:
            return ref.removeprefix("refs/heads/"), str(heads[ref].oid)
    if branch:
        raise BranchNotFound(f"branch {branch!r} was not found on the remote")
    raise BranchNotFound("the remote has no default branch (is it empty?)")


def _require_commit(repo: pygit2.Repository, remote: str, branch: str, sha: str) -> None:
    ref = repo.references.get(f"refs/heads/{branch}")
    if ref is None:
        raise BranchNotFound(f"branch {branch!r} was not found on the remote")
    head = str(ref.target)
    # Present is not enough: libgit2's local transport copies every branch's objects.
    if _has_commit(repo, sha) and (sha == head or repo.descendant_of(head, sha)):
        return
    log.warning("%s: %s is not on %s (head %s)", display(remote), sha, branch, head)
    raise CommitNotOnBranch(f"commit {sha[:12]} is not on branch {branch!r}", branch_head=head)


def _refuse_shallow_source(remote: str) -> None:
    """A shallow local clone as the remote: libgit2 fetches what it has and the history walk
    then misses parents. Found before fetching, with a message that says what to do."""
    if not os.path.isabs(remote):
        return
    try:
        source = pygit2.Repository(remote)
    except pygit2.GitError:
        return  # not a repository: the fetch reports it
    if _is_shallow(source):
        log.warning("%s is a shallow clone", remote)
        raise RepositoryUnreadable(SHALLOW)


def _is_shallow(repo: pygit2.Repository) -> bool:
    return bool(repo.is_shallow) or (Path(repo.path) / "info" / "grafts").is_file()


def _unreadable(
    repo: pygit2.Repository, remote: str, what: str, exc: Exception
) -> RepositoryUnreadable | TransientError:
    """A missing object while reading a clone: transient if the clone was evicted meanwhile
    (a retry fetches it again), else the repository itself lacks it (permanent)."""
    log.warning("reading the %s of %s failed: %s", what, display(remote), exc)
    if not (Path(repo.path) / "HEAD").is_file():
        return TransientError(CACHE_UNREADABLE)
    return RepositoryUnreadable(MISSING_OBJECTS)


def _guarded_walk(
    repo: pygit2.Repository, commit: pygit2.Commit, remote: str
) -> Iterator[TreeEntry]:
    try:
        yield from _walk(repo, repo.odb, commit.tree, "")
    except (pygit2.GitError, KeyError) as exc:
        raise _unreadable(repo, remote, "tree", exc) from exc


def _walk(
    repo: pygit2.Repository, odb: pygit2.Odb, tree: pygit2.Tree, prefix: str
) -> Iterator[TreeEntry]:
    """Git's tree order, depth first, is byte order of the full paths: output is sorted."""
    for entry in tree:
        path = prefix + str(entry.name)
        mode = int(entry.filemode)
        if mode == FileMode.TREE:
            yield from _walk(repo, odb, repo[entry.id].peel(pygit2.Tree), path + "/")
        elif mode == FileMode.COMMIT:  # a submodule: its commit is not in this repository
            yield TreeEntry(path=path, oid=str(entry.id), mode=mode, size=0)
        else:  # the header gives the size without inflating the whole blob
            _, size = odb.read_header(entry.id)
            yield TreeEntry(path=path, oid=str(entry.id), mode=mode, size=int(size))


def _check_branch(branch: str) -> None:
    # Also keeps refspec syntax (":", "+", "*") out of the fetch refspec.
    if not pygit2.reference_is_valid_name(f"refs/heads/{branch}") or "*" in branch:
        raise InvalidRequest(f"invalid branch name {branch!r}")


def _check_object_id(oid: str) -> None:
    if not _OBJECT_ID.fullmatch(oid):
        raise InvalidRequest(f"invalid object id {oid!r}: expected full lowercase hex")


def _open_or_init(path: Path) -> pygit2.Repository:
    try:
        if (path / "HEAD").is_file():
            return pygit2.Repository(str(path))
        return pygit2.init_repository(str(path), bare=True)
    except pygit2.GitError as exc:
        log.warning("cannot prepare the git cache at %s: %s", path, exc)
        raise TransientError("the git cache could not be prepared") from exc


def _has_commit(repo: pygit2.Repository, sha: str) -> bool:
    return isinstance(repo.get(sha), pygit2.Commit)


def _touch(path: Path) -> None:
    marker = path / _MARKER
    marker.touch()
    now = time.time_ns()  # explicit: the kernel's own mtime clock ticks only every few ms
    os.utime(marker, ns=(now, now))


def _last_used(path: Path) -> float:
    try:
        return (path / _MARKER).stat().st_mtime
    except FileNotFoundError:  # never fetched successfully: the first to go
        return 0.0


def _disk_usage(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except FileNotFoundError:  # removed by a concurrent eviction or gc
                continue
    return total
