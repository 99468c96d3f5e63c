"""GitEngine over pygit2 (libgit2): reads remotes through a bounded LRU cache of bare clones.

AWS resources: none; IAM actions: none. It writes only under the configured cache directory
(/tmp on Lambda) and talks to git hosts over outbound HTTPS (HTTP and absolute local paths are
accepted too: tests, and the local stack when the service allows local remotes).

Cache layout: `<cache_dir>/<sha256(remote)[:24]>/` is one bare clone per remote, never checked
out, with a `strata-last-used` marker whose mtime orders eviction; `<cache_dir>/scratch.git`
is an empty bare repository that hosts the anonymous remotes of `resolve_head` (ls-remote).
Tokens are tried in order and never appear in an exception message.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType, FileMode
from pygit2.remotes import RemoteHead

from chalicelib.adapters.pygit2_history import walk_history
from chalicelib.domain.history import CommitChange
from chalicelib.domain.models import TreeEntry
from chalicelib.errors import (
    AccessDenied,
    InvalidRequest,
    RemoteNotFound,
    StrataError,
    TransientError,
)

T = TypeVar("T")

_MARKER = "strata-last-used"
_SCRATCH = "scratch.git"
_CLONE_NAME = re.compile(r"[0-9a-f]{24}")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_TOKEN_USER = "x-access-token"  # GitHub's convention; other hosts ignore the user name

# libgit2 reports failures as text; these fragments are stable across 1.x releases.
_AUTH_FAILURES = ("authentication required", "status code: 401", "status code: 403", "replays")
_NOT_FOUND = (
    "status code: 404",
    "status code: 410",
    "could not find repository",
    "repository not found",
    "failed to resolve path",
)


class _CredentialRejected(Exception):
    """Raised from the credentials callback so libgit2 stops asking for this token."""


class _TokenCallbacks(pygit2.RemoteCallbacks):
    """Offers one token, once: libgit2 asks again when the server refuses it."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self._token = token
        self._offered = False

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass:
        if not self._token or self._offered:
            raise _CredentialRejected("credential refused")
        if not allowed_types & CredentialType.USERPASS_PLAINTEXT:
            raise _CredentialRejected("the remote wants a credential other than a token")
        self._offered = True
        return pygit2.UserPass(_TOKEN_USER, self._token)


class Pygit2GitEngine:
    """Implements ports.GitEngine. Safe for threads fetching different remotes."""

    def __init__(self, cache_dir: str, max_cache_bytes: int) -> None:
        self._root = Path(cache_dir)
        self._max_bytes = max_cache_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._evicting = threading.Lock()  # one pass at a time: stale totals over-evict

    def resolve_head(
        self, remote: str, branch: str | None, credentials: Sequence[str | None]
    ) -> tuple[str, str]:
        if branch is not None:
            _check_branch(branch)
        _check_remote(remote)

        def list_heads(callbacks: pygit2.RemoteCallbacks) -> dict[str, RemoteHead]:
            anonymous = self._scratch().remotes.create_anonymous(remote)
            heads = anonymous.list_heads(callbacks=callbacks)
            return {head.name: head for head in heads if head.name}

        heads = _authenticated(remote, credentials, list_heads)
        return _pick_branch(remote, heads, branch)

    def fetch(self, remote: str, branch: str, sha: str, credentials: Sequence[str | None]) -> None:
        _check_branch(branch)
        _check_object_id(sha)
        _check_remote(remote)
        path = self._clone_path(remote)
        with self._lock_for(path):
            repo = _open_or_init(path)
            if not _has_commit(repo, sha):  # already here: no network at all
                refspec = f"+refs/heads/{branch}:refs/heads/{branch}"
                anonymous = repo.remotes.create_anonymous(remote)
                _authenticated(
                    remote, credentials, lambda cb: anonymous.fetch([refspec], callbacks=cb)
                )
                _require_commit(repo, remote, branch, sha)
            _touch(path)
        self._evict(keep=path)

    def list_tree(self, remote: str, sha: str) -> Iterator[TreeEntry]:
        # Not a generator itself, so a missing clone or commit raises at the call.
        _check_object_id(sha)
        repo = self._open_cached(remote)
        commit = repo.get(sha)
        if not isinstance(commit, pygit2.Commit):
            raise RemoteNotFound(f"commit {sha} has not been fetched from {_display(remote)}")
        return _guarded_walk(repo, commit.tree, remote)

    def read_blob(self, remote: str, oid: str) -> bytes:
        _check_object_id(oid)
        repo = self._open_cached(remote)
        try:
            blob = repo.get(oid)
        except pygit2.GitError as exc:
            raise TransientError(f"cannot read the cache of {_display(remote)}") from exc
        if not isinstance(blob, pygit2.Blob):
            raise RemoteNotFound(f"blob {oid} has not been fetched from {_display(remote)}")
        return bytes(blob.data)

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
            raise TransientError(f"cannot read the history of {_display(remote)}") from exc

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
            raise RemoteNotFound(f"{_display(remote)} has not been fetched")
        _touch(path)
        try:
            return pygit2.Repository(str(path))
        except pygit2.GitError as exc:
            raise TransientError(f"cannot open the cache of {_display(remote)}") from exc

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


def _authenticated(
    remote: str, credentials: Sequence[str | None], action: Callable[[pygit2.RemoteCallbacks], T]
) -> T:
    """Run `action` with each credential in turn, moving on only when one is refused.

    A 404 while another credential remains also moves on: GitHub hides a private
    repository from a token without access behind 404, not 403."""
    secrets = [token for token in credentials if token]
    refused: BaseException | None = None
    attempts = list(credentials or (None,))
    for n, token in enumerate(attempts):
        try:
            return action(_TokenCallbacks(token))
        except _CredentialRejected as exc:
            refused = exc
        except (pygit2.GitError, OSError) as exc:
            error = _translate(exc, remote, secrets)
            hidden = isinstance(error, RemoteNotFound) and n + 1 < len(attempts)
            if not (isinstance(error, AccessDenied) or hidden):
                raise error from exc
            refused = exc
    raise AccessDenied(f"{_display(remote)} refused every credential offered") from refused


def _translate(exc: Exception, remote: str, secrets: Sequence[str]) -> StrataError:
    message = str(exc)
    lowered = message.lower()
    where = _display(remote)
    if isinstance(exc, pygit2.AuthError) or any(s in lowered for s in _AUTH_FAILURES):
        return AccessDenied(f"{where} refused the credential")
    if any(s in lowered for s in _NOT_FOUND):
        return RemoteNotFound(f"no git repository at {where}")
    message = message.replace(remote, where)  # libgit2 may echo the URL and its password
    for secret in secrets:  # a token must never reach a log line
        message = message.replace(secret, "***")
    return TransientError(f"cannot reach {where}: {message}")


def _pick_branch(remote: str, heads: dict[str, RemoteHead], branch: str | None) -> tuple[str, str]:
    if branch is not None:
        candidates = [f"refs/heads/{branch}"]
    elif "HEAD" in heads and heads["HEAD"].symref_target:
        candidates = [str(heads["HEAD"].symref_target)]
    else:  # old servers do not advertise the HEAD symref
        candidates = ["refs/heads/main", "refs/heads/master"]
    for ref in candidates:
        if ref in heads:
            return ref.removeprefix("refs/heads/"), str(heads[ref].oid)
    wanted = f"branch {branch!r}" if branch else "default branch (is it empty?)"
    raise RemoteNotFound(f"{_display(remote)} has no {wanted}")


def _require_commit(repo: pygit2.Repository, remote: str, branch: str, sha: str) -> None:
    if _has_commit(repo, sha):
        return
    if repo.references.get(f"refs/heads/{branch}") is None:
        raise RemoteNotFound(f"{_display(remote)} has no branch {branch!r}")
    raise RemoteNotFound(f"commit {sha} is not on branch {branch!r} of {_display(remote)}")


def _guarded_walk(repo: pygit2.Repository, tree: pygit2.Tree, remote: str) -> Iterator[TreeEntry]:
    try:
        yield from _walk(repo, repo.odb, tree, "")
    except (pygit2.GitError, KeyError) as exc:  # e.g. the clone was evicted meanwhile
        raise TransientError(f"cannot read the cache of {_display(remote)}") from exc


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


def _check_remote(remote: str) -> None:
    if os.path.isabs(remote):
        # libgit2 reports a missing local path as "unsupported URL protocol"
        if not os.path.isdir(remote):
            raise RemoteNotFound(f"no git repository at {remote}")
        return
    parts = urlsplit(remote)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidRequest(f"unsupported remote {_display(remote)}: use https or a local path")


def _check_branch(branch: str) -> None:
    # Also keeps refspec syntax (":", "+", "*") out of the fetch refspec.
    if not pygit2.reference_is_valid_name(f"refs/heads/{branch}") or "*" in branch:
        raise InvalidRequest(f"invalid branch name {branch!r}")


def _check_object_id(oid: str) -> None:
    if not _OBJECT_ID.fullmatch(oid):
        raise InvalidRequest(f"invalid object id {oid!r}: expected full lowercase hex")


def _display(remote: str) -> str:
    """The remote without any user:password part, safe for messages."""
    parts = urlsplit(remote)
    if parts.username is None and parts.password is None:
        return remote
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _open_or_init(path: Path) -> pygit2.Repository:
    try:
        if (path / "HEAD").is_file():
            return pygit2.Repository(str(path))
        return pygit2.init_repository(str(path), bare=True)
    except pygit2.GitError as exc:
        raise TransientError(f"cannot prepare the git cache at {path}") from exc


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
