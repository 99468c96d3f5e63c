"""GitEngine: the same assertions on FakeGitEngine and on Pygit2GitEngine.

The real engine reads real repositories made with tests/gitrepo.py: by path (a local root of
the engine), and, where credentials matter, over HTTPS from tests/integration/git_http_server.py
through the egress proxy (tests/egress.py). Each side builds its remotes through one small
interface, so every test below writes the same history to both.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

import pygit2
import pytest

from chalicelib.domain.history import CommitChange
from chalicelib.domain.models import TreeEntry
from chalicelib.domain.planning import plan_tree
from chalicelib.errors import (
    AccessDenied,
    BranchNotFound,
    CommitNotOnBranch,
    RemoteNotFound,
)
from chalicelib.ports import GitEngine
from tests.egress import GIT_HOST, Guarded, guarded_engine, server_context
from tests.fakes.aws import FakeGitEngine, Submodule, Symlink
from tests.gitrepo import add_submodule_entry, add_symlink, commit_files, init_repo
from tests.integration.git_http_server import GitHttpServer

Changes = Mapping[str, bytes | str | None]
FILES: dict[str, bytes | str] = {
    "README.md": "# demo\n",
    "src/app.py": "print('hi')\n",
    "src/pkg/util.py": "x = 1\n",
    "data/table.bin": bytes(range(256)) * 4,
}
LIBRARY = "5" * 40  # the submodule's commit: in another repository, never in this one
TOKEN = "ghs_the-right-token"
WRONG = "ghu_a-wrong-token"


class Remote(Protocol):
    """A remote a test writes to; every method returns the new commit's sha."""

    url: str

    def commit(self, changes: Changes, *, branch: str = ..., message: str = ...) -> str: ...

    def symlink(self, path: str, target: str, *, branch: str = ...) -> str: ...

    def submodule(self, path: str, sha: str, *, branch: str = ...) -> str: ...


class GitSide(Protocol):
    @property
    def engine(self) -> GitEngine: ...

    def remote(
        self, name: str, files: Changes, *, branch: str = ..., token: str | None = ...
    ) -> Remote:
        """A new remote with one commit of `files` on `branch`, its default branch; with a
        token, only that credential may read it."""
        ...

    def nowhere(self, name: str) -> str:
        """The address of a remote that does not exist."""
        ...


class FakeRepo:
    """Keeps each branch's files, as git's trees do, and commits them to FakeGitEngine."""

    def __init__(self, git: FakeGitEngine, url: str) -> None:
        self.git = git
        self.url = url
        self.trees: dict[str, dict[str, bytes | str | Symlink | Submodule]] = {}

    def commit(
        self,
        changes: Mapping[str, bytes | str | Symlink | Submodule | None],
        *,
        branch: str = "main",
        message: str = "change",
    ) -> str:
        tree = dict(self.trees.get(branch, {}))  # a new branch starts empty (gitrepo does)
        for path, data in changes.items():
            if data is None:
                tree.pop(path, None)
            else:
                tree[path] = data
        self.trees[branch] = tree
        return self.git.commit(self.url, tree, branch=branch, message=message)

    def symlink(self, path: str, target: str, *, branch: str = "main") -> str:
        return self.commit({path: Symlink(target)}, branch=branch, message=f"add symlink {path}")

    def submodule(self, path: str, sha: str, *, branch: str = "main") -> str:
        return self.commit({path: Submodule(sha)}, branch=branch, message=f"add submodule {path}")


class FakeSide:
    def __init__(self) -> None:
        self.engine = FakeGitEngine()

    def remote(
        self, name: str, files: Changes, *, branch: str = "main", token: str | None = None
    ) -> Remote:
        repo = FakeRepo(self.engine, f"https://{GIT_HOST}/{name}")
        repo.commit(files, branch=branch, message="initial")
        self.engine.remotes[repo.url].default = branch
        self.engine.remotes[repo.url].token = token
        return repo

    def nowhere(self, name: str) -> str:
        return f"https://{GIT_HOST}/{name}"


class RealRepo:
    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url

    def commit(self, changes: Changes, *, branch: str = "main", message: str = "change") -> str:
        return commit_files(self.path, changes, branch=branch, message=message)

    def symlink(self, path: str, target: str, *, branch: str = "main") -> str:
        return add_symlink(self.path, path, target, branch=branch)

    def submodule(self, path: str, sha: str, *, branch: str = "main") -> str:
        return add_submodule_entry(self.path, path, sha, branch=branch)


class RealSide:
    """Repositories under `root`, read by path; a private one is served over HTTPS."""

    def __init__(self, guarded: Guarded, root: Path, tls: ssl.SSLContext, exits: ExitStack):
        self.engine = guarded.engine
        self._guarded = guarded
        self._root = root
        self._tls = tls
        self._exits = exits

    def remote(
        self, name: str, files: Changes, *, branch: str = "main", token: str | None = None
    ) -> Remote:
        if token is None:
            path = self._root / name
            init_repo(path, _present(files), branch=branch)
            return RealRepo(path, str(path))
        served = self._root / "served" / name
        served.parent.mkdir(exist_ok=True)
        init_repo(served, _present(files), branch=branch)
        server = GitHttpServer(served.parent, password=token, tls=self._tls, host=GIT_HOST)
        self._exits.enter_context(server)
        self._guarded.allow(server.netloc)
        return RealRepo(served, server.url(name))

    def nowhere(self, name: str) -> str:
        return str(self._root / name)


def _present(files: Changes) -> dict[str, bytes | str]:
    return {path: data for path, data in files.items() if data is not None}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return server_context(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["fake", "pygit2"])
def git(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GitSide]:
    if request.param == "fake":
        yield FakeSide()
        return
    guarded = guarded_engine(tmp_path / "cache", [str(tmp_path)])
    try:
        with ExitStack() as exits:
            yield RealSide(guarded, tmp_path, request.getfixturevalue("tls"), exits)
    finally:
        guarded.proxy.stop()


def blob_oid(data: bytes | str) -> str:
    return str(pygit2.hash(data.encode() if isinstance(data, str) else data))


def size(data: bytes | str) -> int:
    return len(data.encode() if isinstance(data, str) else data)


# --- resolve_head -----------------------------------------------------------------------------


def test_resolves_the_default_branch_and_a_named_one(git: GitSide) -> None:
    remote = git.remote("src", FILES, branch="trunk")
    trunk = remote.commit({"CHANGES": "v2\n"}, branch="trunk")
    feature = remote.commit({"new.txt": "new\n"}, branch="feature")

    assert git.engine.resolve_head(remote.url, None, [None]) == ("trunk", trunk)
    assert git.engine.resolve_head(remote.url, "feature", [None]) == ("feature", feature)
    assert git.engine.resolve_head(remote.url, "trunk", [None]) == ("trunk", trunk)


def test_a_missing_branch_is_branch_not_found(git: GitSide) -> None:
    remote = git.remote("src", FILES)
    head = remote.commit({"CHANGES": "v2\n"})

    with pytest.raises(BranchNotFound, match=r"^branch 'nope' was not found on the remote$"):
        git.engine.resolve_head(remote.url, "nope", [None])
    with pytest.raises(BranchNotFound, match=r"^branch 'nope' was not found on the remote$"):
        git.engine.fetch(remote.url, "nope", head, [None])


def test_a_missing_remote_is_remote_not_found_and_never_named(git: GitSide) -> None:
    missing = git.nowhere("missing")

    with pytest.raises(RemoteNotFound, match=r"^the remote repository was not found$") as resolving:
        git.engine.resolve_head(missing, None, [None])
    with pytest.raises(RemoteNotFound, match=r"^the remote repository was not found$") as fetching:
        git.engine.fetch(missing, "main", "a" * 40, [None])

    for raised in (resolving.value, fetching.value):
        assert "missing" not in str(raised)  # users see it: the remote stays in the log


# --- fetch ------------------------------------------------------------------------------------


def test_fetch_of_a_commit_the_remote_does_not_have_is_commit_not_on_branch(
    git: GitSide,
) -> None:
    remote = git.remote("src", FILES)
    head = remote.commit({"CHANGES": "v2\n"})

    with pytest.raises(
        CommitNotOnBranch, match=r"^commit cccccccccccc is not on branch 'main'$"
    ) as e:
        git.engine.fetch(remote.url, "main", "c" * 40, [None])

    assert e.value.branch_head == head  # what the branch really holds


def test_fetch_of_a_commit_on_another_branch_is_commit_not_on_branch(git: GitSide) -> None:
    remote = git.remote("src", FILES)
    head = remote.commit({"CHANGES": "v2\n"})
    feature = remote.commit({"new.txt": "new\n"}, branch="feature")

    with pytest.raises(
        CommitNotOnBranch, match=f"^commit {feature[:12]} is not on branch 'main'$"
    ) as e:
        git.engine.fetch(remote.url, "main", feature, [None])
    assert e.value.branch_head == head

    git.engine.fetch(remote.url, "feature", feature, [None])  # on its own branch it is read
    assert [entry.path for entry in git.engine.list_tree(remote.url, feature)] == ["new.txt"]


def test_fetch_brings_the_branch_history_and_keeps_what_it_brought(git: GitSide) -> None:
    remote = git.remote("src", FILES)
    first = remote.commit({"src/app.py": None, "CHANGES": "v2\n"})
    second = remote.commit({"CHANGES": "v3\n"})

    git.engine.fetch(remote.url, "main", second, [None])
    third = remote.commit({"CHANGES": "v4\n"})  # pushed after the fetch

    assert {e.path for e in git.engine.list_tree(remote.url, first)} == (
        set(FILES) - {"src/app.py"}
    ) | {"CHANGES"}
    with pytest.raises(RemoteNotFound, match="has not been fetched"):
        git.engine.list_tree(remote.url, third)
    git.engine.fetch(remote.url, "main", third, [None])
    assert git.engine.read_blob(remote.url, blob_oid("v4\n")) == b"v4\n"


# --- list_tree, read_blob ---------------------------------------------------------------------


def test_lists_every_blob_symlink_and_submodule_with_sizes(git: GitSide) -> None:
    remote = git.remote("src", FILES)
    remote.submodule("vendor/library", LIBRARY)
    sha = remote.symlink("docs/readme-link", "../README.md")

    git.engine.fetch(remote.url, "main", sha, [None])
    entries = list(git.engine.list_tree(remote.url, sha))

    expected = [TreeEntry(p, blob_oid(data), 0o100644, size(data)) for p, data in FILES.items()]
    expected += [
        TreeEntry("docs/readme-link", blob_oid("../README.md"), 0o120000, len("../README.md")),
        TreeEntry("vendor/library", LIBRARY, 0o160000, 0),
    ]
    assert entries == sorted(expected, key=lambda entry: entry.path)  # git's order: by path
    plan = plan_tree(
        entries, known={}, max_file_bytes=1 << 20, max_batch_files=10, max_batch_bytes=1 << 20
    )
    assert plan.skipped == {"symlink": 1, "submodule": 1}  # planning never reads them
    assert {f.path for f in plan.files} == set(FILES)


def test_reads_the_bytes_of_files_and_of_symlink_targets(git: GitSide) -> None:
    remote = git.remote("src", FILES)
    sha = remote.symlink("docs/readme-link", "../README.md")
    git.engine.fetch(remote.url, "main", sha, [None])

    assert (
        git.engine.read_blob(remote.url, blob_oid(FILES["data/table.bin"])) == bytes(range(256)) * 4
    )
    assert git.engine.read_blob(remote.url, blob_oid("../README.md")) == b"../README.md"
    with pytest.raises(RemoteNotFound, match="blob"):
        git.engine.read_blob(remote.url, "b" * 40)


def test_nothing_is_read_from_a_remote_never_fetched(git: GitSide) -> None:
    remote = git.remote("src", FILES)
    sha = remote.commit({"CHANGES": "v2\n"})

    with pytest.raises(RemoteNotFound, match="has not been fetched"):
        git.engine.list_tree(remote.url, sha)
    with pytest.raises(RemoteNotFound, match="has not been fetched"):
        git.engine.read_blob(remote.url, blob_oid(FILES["README.md"]))
    with pytest.raises(RemoteNotFound, match="has not been fetched"):
        git.engine.history(remote.url, sha, None, 10)


# --- history, is_ancestor ---------------------------------------------------------------------


def test_history_lists_commits_newest_first_with_changed_paths(git: GitSide) -> None:
    remote = git.remote("repo", {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    second = remote.commit({"a.py": "a = 2\n"}, message="Fix the value of a")
    third = remote.commit({"b.py": None, "c.py": "c\n"}, message="Replace b by c")
    fourth = remote.symlink("link", "c.py")
    git.engine.fetch(remote.url, "main", fourth, [None])

    walked = git.engine.history(remote.url, fourth, None, 10)

    assert walked == [  # the root commit has no parent to diff against: not kept
        CommitChange(fourth, "add symlink link", ("link",)),
        CommitChange(third, "Replace b by c", ("b.py", "c.py")),
        CommitChange(second, "Fix the value of a", ("a.py",)),
    ]
    assert git.engine.history(remote.url, fourth, second, 10) == walked[:2]
    assert git.engine.history(remote.url, fourth, fourth, 10) == []
    assert git.engine.history(remote.url, second, third, 10) is None  # not an ancestor
    assert git.engine.history(remote.url, fourth, None, 1) == walked[:1]


def test_is_ancestor_knows_nothing_before_a_fetch_and_answers_from_the_cache_after(
    git: GitSide,
) -> None:
    remote = git.remote("src", FILES)
    first = remote.commit({"CHANGES": "v2\n"})
    second = remote.commit({"CHANGES": "v3\n"})
    feature = remote.commit({"new.txt": "new\n"}, branch="feature")

    # Cold: nothing fetched, so nothing is known (never the network).
    assert git.engine.is_ancestor(remote.url, first, second) is None
    assert git.engine.is_ancestor(remote.url, second, second) is None

    git.engine.fetch(remote.url, "main", second, [None])
    later = remote.commit({"CHANGES": "v4\n"})  # pushed after the fetch: not in the cache

    assert git.engine.is_ancestor(remote.url, first, second) is True
    assert git.engine.is_ancestor(remote.url, second, second) is True
    assert git.engine.is_ancestor(remote.url, second, first) is False
    assert git.engine.is_ancestor(remote.url, second, later) is None
    # (Read by path, libgit2 copies every branch: only a fetch says what another one holds.)
    git.engine.fetch(remote.url, "feature", feature, [None])
    assert git.engine.is_ancestor(remote.url, feature, second) is False
    assert git.engine.is_ancestor(remote.url, first, feature) is False


# --- credentials ------------------------------------------------------------------------------


def test_refused_credentials_are_access_denied_and_the_right_one_is_found(git: GitSide) -> None:
    remote = git.remote("private", FILES, token=TOKEN)

    with pytest.raises(AccessDenied, match="refused every credential") as resolving:
        git.engine.resolve_head(remote.url, None, [None, WRONG])
    with pytest.raises(AccessDenied, match="refused every credential") as fetching:
        git.engine.fetch(remote.url, "main", "a" * 40, [None, WRONG])
    for raised in (resolving.value, fetching.value):
        assert WRONG not in str(raised) and TOKEN not in str(raised)

    branch, sha = git.engine.resolve_head(remote.url, None, [None, WRONG, TOKEN])
    git.engine.fetch(remote.url, branch, sha, [WRONG, TOKEN])
    assert len(list(git.engine.list_tree(remote.url, sha))) == len(FILES)
    git.engine.fetch(remote.url, branch, sha, [None])  # cached already: no remote, no token
