"""GitWriter: the same assertions on FakeGitWriter and on Pygit2GitEngine (a local bare
repository as the remote; tests/integration/test_pygit2_commits.py pushes over HTTPS too).

A commit is built from the fetched base plus changes without a worktree, the same inputs
give the same SHA, and a push moves the branch only from the commit it was told to expect."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol, cast

import pygit2
import pytest

from chalicelib.domain.commits import Author, CommitMeta, FileChange
from chalicelib.errors import BranchMoved, BranchNotFound, InvalidRequest, RemoteNotFound
from chalicelib.ports import GitEngine, GitWriter
from tests.egress import guarded_engine
from tests.fakes.aws import FakeGitEngine
from tests.fakes.git_writer import FakeGitWriter
from tests.gitrepo import commit_files, init_repo

FILES = {"README.md": b"# demo\n", "src/app.py": b"print('hi')\n", "src/pkg/util.py": b"x = 1\n"}
META = CommitMeta("change", Author("Ada", "ada@example.com"), Author("Ada", "ada@example.com"), 1)


class Side(Protocol):
    url: str
    engine: GitEngine
    writer: GitWriter

    def external(self, changes: Mapping[str, bytes]) -> str:
        """Someone else's commit on main; its sha."""
        ...

    def head(self, branch: str = "main") -> str: ...

    def tree(self, sha: str) -> dict[str, bytes]: ...


class FakeSide:
    def __init__(self) -> None:
        self.url = "https://git.test/acme/demo"
        git = FakeGitEngine()
        self.engine, self.writer = git, FakeGitWriter(git)
        git.commit(self.url, dict(FILES))

    def external(self, changes: Mapping[str, bytes]) -> str:
        assert isinstance(self.engine, FakeGitEngine)
        return self.engine.commit(self.url, {**self.tree(self.head()), **changes})

    def head(self, branch: str = "main") -> str:
        assert isinstance(self.engine, FakeGitEngine)
        return self.engine.remotes[self.url].branches[branch]

    def tree(self, sha: str) -> dict[str, bytes]:
        assert isinstance(self.engine, FakeGitEngine)
        files = self.engine.remotes[self.url].commits[sha]
        return {p: v for p, v in files.items() if isinstance(v, bytes)}


class RealSide:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "demo.git"
        init_repo(self.path, dict(FILES), bare=True)
        self.url = str(self.path)
        self.guarded = guarded_engine(tmp_path / "cache", [str(tmp_path)])
        self.engine = self.writer = self.guarded.engine

    def external(self, changes: Mapping[str, bytes]) -> str:
        return commit_files(self.path, dict(changes))

    def head(self, branch: str = "main") -> str:
        return str(pygit2.Repository(str(self.path)).references[f"refs/heads/{branch}"].target)

    def tree(self, sha: str) -> dict[str, bytes]:
        repo = pygit2.Repository(str(self.path))
        out: dict[str, bytes] = {}

        def walk(tree: pygit2.Tree, prefix: str) -> None:
            for entry in tree:
                obj = repo[entry.id]
                if isinstance(obj, pygit2.Tree):
                    walk(obj, f"{prefix}{entry.name}/")
                else:
                    out[f"{prefix}{entry.name}"] = bytes(obj.read_raw())

        walk(repo[sha].peel(pygit2.Tree), "")
        return out


@pytest.fixture(params=["fake", "pygit2"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Side]:
    if request.param == "fake":
        yield cast(Side, FakeSide())
        return
    real = RealSide(tmp_path)
    yield cast(Side, real)
    real.guarded.proxy.stop()


def fetched(side: Side) -> str:
    head = side.head()
    side.engine.fetch(side.url, "main", head, [None])
    return head


def test_a_commit_is_the_base_tree_with_the_changes_and_the_same_inputs_give_its_sha(
    side: Side,
) -> None:
    base = fetched(side)
    changes = [
        FileChange("src/app.py", b"print('hello')\n"),
        FileChange("src/pkg/util.py"),
        FileChange("docs/new/page.md", b"# page\n"),
        FileChange("data.bin", bytes(range(256))),
    ]
    sha = side.writer.write_commit(side.url, base, changes, META)
    assert side.writer.write_commit(side.url, base, changes, META) == sha
    other = CommitMeta("change", META.author, META.committer, META.time + 1)
    assert side.writer.write_commit(side.url, base, changes, other) != sha
    assert side.head() == base  # nothing left the cache
    side.writer.push(side.url, "main", base, sha, [None])
    assert side.head() == sha
    assert side.tree(sha) == {
        "README.md": FILES["README.md"],
        "src/app.py": b"print('hello')\n",
        "docs/new/page.md": b"# page\n",
        "data.bin": bytes(range(256)),
    }


REFUSED = [
    (FileChange("nothing.py"), "not in the base commit"),
    (FileChange("README.md/x.py", b"x"), "not a directory"),
    (FileChange("src", b"x"), "directory"),
    (FileChange("src/app.py", FILES["src/app.py"]), "nothing to commit"),
]


@pytest.mark.parametrize(("change", "words"), REFUSED)
def test_changes_that_do_not_fit_the_base_tree_are_refused(
    side: Side, change: FileChange, words: str
) -> None:
    base = fetched(side)
    with pytest.raises(InvalidRequest, match=words):
        side.writer.write_commit(side.url, base, [change], META)


def test_a_base_that_was_not_fetched_cannot_be_built_on(side: Side) -> None:
    with pytest.raises(RemoteNotFound):
        side.writer.write_commit(side.url, "1" * 40, [FileChange("a.py", b"a")], META)


def test_a_push_moves_the_branch_only_from_the_commit_it_expects(side: Side) -> None:
    base = fetched(side)
    mine = side.writer.write_commit(side.url, base, [FileChange("mine.py", b"m")], META)
    theirs = side.external({"theirs.py": b"t"})
    with pytest.raises(BranchMoved) as moved:
        side.writer.push(side.url, "main", base, mine, [None])
    assert moved.value.current_sha == theirs == side.head()
    assert "mine.py" not in side.tree(side.head())
    with pytest.raises(BranchNotFound):
        side.writer.push(side.url, "gone", base, mine, [None])
