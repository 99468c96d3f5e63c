"""In-memory fakes of the BlobStore, WorkQueue, TokenVault, Clock and GitEngine ports."""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.history import CommitChange, keep_commit
from chalicelib.domain.messages import Message
from chalicelib.domain.models import TreeEntry
from chalicelib.domain.verification import git_blob_oid
from chalicelib.errors import (
    AccessDenied,
    BranchNotFound,
    CommitNotOnBranch,
    NotFound,
    RemoteNotFound,
    RepositoryUnreadable,
)


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeBlobStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        if if_absent and key in self.objects:
            return False
        self.objects[key] = bytes(data)
        self.puts += 1
        return True

    def get(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise NotFound(f"get {key}: not found") from None

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k.startswith(prefix)]
        for k in doomed:
            del self.objects[k]
        return len(doomed)

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


class FakeWorkQueue:
    def __init__(self) -> None:
        self.pending: deque[Message] = deque()
        self.sent: list[Message] = []

    def send(self, message: Message, *, delay_seconds: int = 0) -> None:
        self.pending.append(message)
        self.sent.append(message)

    def send_many(self, messages: Sequence[Message]) -> None:
        for m in messages:
            self.send(m)


class FakeTokenVault:
    """Reversible but never plain text, like the KMS vault."""

    def seal(self, token: str) -> str:
        return "sealed:" + base64.b64encode(token.encode()[::-1]).decode()

    def open(self, sealed: str) -> str:
        return base64.b64decode(sealed.removeprefix("sealed:")).decode()[::-1]


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in a fake commit: git keeps its target as a blob (mode 0o120000)."""

    target: str

    @property
    def data(self) -> bytes:
        return self.target.encode()


@dataclass(frozen=True)
class Submodule:
    """A gitlink in a fake commit: another repository's commit (mode 0o160000), no blob here."""

    sha: str


FileValue = bytes | Symlink | Submodule

# The GitEngine's messages, as Pygit2GitEngine words them (users see them: no remote, no path).
REMOTE_NOT_FOUND = "the remote repository was not found"
CREDENTIALS_REFUSED = "the remote refused every credential offered"
NOT_FETCHED = "the commit has not been fetched into the git cache"
BLOB_NOT_FETCHED = "the blob has not been fetched into the git cache"
REMOTE_NOT_FETCHED = "the repository has not been fetched into the git cache"
MISSING_OBJECTS = "the repository is missing objects (is it corrupt, shallow or a partial clone?)"


@dataclass
class FakeRemote:
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, FileValue]] = field(default_factory=dict)
    default: str = "main"
    token: str | None = None
    parents: dict[str, str | None] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)


class FakeGitEngine:
    """Remotes held in memory; commits are path -> content maps (bytes, or a Symlink or
    Submodule). `cached` is the git cache: per remote, the commits fetches brought (the branch
    head and its ancestors). Like Pygit2GitEngine, everything but `resolve_head` and `fetch`
    reads the cache alone: a commit not fetched is RemoteNotFound, and a fetch of a commit
    already cached needs no remote (nor credentials)."""

    def __init__(self) -> None:
        self.remotes: dict[str, FakeRemote] = {}
        self.cached: dict[str, set[str]] = {}
        self.fetches = 0
        self.blob_reads = 0
        self.resolved: list[str] = []  # the remotes whose head was asked (ls-remote), in order

    def commit(
        self,
        remote: str,
        files: Mapping[str, bytes | str | Symlink | Submodule],
        *,
        branch: str = "main",
        message: str = "",
    ) -> str:
        """A commit on `branch` whose tree is exactly `files`; its sha."""
        r = self.remotes.setdefault(remote, FakeRemote())
        data = {p: v.encode() if isinstance(v, str) else v for p, v in files.items()}
        digest = hashlib.sha1(repr(sorted(data.items())).encode(), usedforsecurity=False)
        sha = digest.hexdigest()
        parent = r.branches.get(branch)
        if sha not in r.commits and parent != sha:
            r.parents[sha] = parent
            r.messages[sha] = message or f"commit {len(r.commits) + 1}"
        r.commits[sha] = data
        r.branches[branch] = sha
        return sha

    def _remote(self, remote: str, credentials: Sequence[str | None]) -> FakeRemote:
        r = self.remotes.get(remote)
        if r is None:
            raise RemoteNotFound(REMOTE_NOT_FOUND)
        if r.token is not None and r.token not in credentials:
            raise AccessDenied(CREDENTIALS_REFUSED)
        return r

    def resolve_head(
        self, remote: str, branch: str | None, credentials: Sequence[str | None]
    ) -> tuple[str, str]:
        self.resolved.append(remote)
        r = self._remote(remote, credentials)
        name = branch or r.default
        if name not in r.branches:
            raise BranchNotFound(f"branch {name!r} was not found on the remote")
        return name, r.branches[name]

    def fetch(self, remote: str, branch: str, sha: str, credentials: Sequence[str | None]) -> None:
        self.fetches += 1
        cached = self.cached.setdefault(remote, set())
        known = self.remotes.get(remote)
        if known is not None and sha in cached and sha in known.commits:
            return  # already here: no network at all
        r = self._remote(remote, credentials)
        if branch not in r.branches:
            raise BranchNotFound(f"branch {branch!r} was not found on the remote")
        at: str | None = r.branches[branch]
        while at is not None and at not in cached:  # a fetch brings the branch's history
            cached.add(at)
            at = r.parents.get(at)
        if sha not in cached or sha not in r.commits:  # the branch does not hold it
            head = r.branches[branch]
            raise CommitNotOnBranch(f"commit {sha[:12]} is not on branch {branch!r}", head)

    def is_ancestor(self, remote: str, ancestor: str, descendant: str) -> bool | None:
        cached = self.cached.get(remote, set())
        r = self.remotes.get(remote)
        if r is None or ancestor not in cached or descendant not in cached:
            return None
        at: str | None = descendant
        while at is not None:
            if at == ancestor:
                return True
            at = r.parents.get(at)
        return False

    def list_tree(self, remote: str, sha: str) -> Iterator[TreeEntry]:
        tree = self._cached_commit(remote, sha)
        return iter([_entry(path, value) for path, value in sorted(tree.items())])

    def history(
        self, remote: str, sha: str, since: str | None, limit: int
    ) -> list[CommitChange] | None:
        r = self._cached_remote(remote)
        if sha not in self.cached[remote]:  # the clone lacks it, as a partial clone would
            raise RepositoryUnreadable(MISSING_OBJECTS)
        chain: list[str] = []
        at: str | None = sha
        while at is not None and at != since:
            chain.append(at)
            at = r.parents.get(at)
        if since is not None and at != since:
            return None
        out = []
        for commit in chain:
            parent = r.parents.get(commit)
            before = r.commits[parent] if parent else None
            if before is None:
                continue
            after = r.commits[commit]
            paths = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
            if keep_commit(1, paths):
                out.append(CommitChange(commit, r.messages[commit], tuple(paths)))
        return out[:limit]

    def read_blob(self, remote: str, oid: str) -> bytes:
        self.blob_reads += 1
        r = self._cached_remote(remote)
        for sha in self.cached[remote]:
            for value in r.commits.get(sha, {}).values():
                data = _blob_data(value)
                if data is not None and git_blob_oid(data) == oid:
                    return data
        raise RemoteNotFound(BLOB_NOT_FETCHED)

    def _cached_remote(self, remote: str) -> FakeRemote:
        r = self.remotes.get(remote)
        if r is None or not self.cached.get(remote):
            raise RemoteNotFound(REMOTE_NOT_FETCHED)
        return r

    def _cached_commit(self, remote: str, sha: str) -> dict[str, FileValue]:
        r = self._cached_remote(remote)
        if sha not in self.cached[remote] or sha not in r.commits:
            raise RemoteNotFound(NOT_FETCHED)
        return r.commits[sha]


def _blob_data(value: FileValue) -> bytes | None:
    if isinstance(value, Submodule):
        return None
    return value.data if isinstance(value, Symlink) else value


def _entry(path: str, value: FileValue) -> TreeEntry:
    """The tree entry Pygit2GitEngine lists for a file, a symlink or a submodule."""
    if isinstance(value, Submodule):
        return TreeEntry(path, value.sha, 0o160000, 0)
    if isinstance(value, Symlink):
        return TreeEntry(path, git_blob_oid(value.data), 0o120000, len(value.data))
    return TreeEntry(path, git_blob_oid(value), 0o100644, len(value))
