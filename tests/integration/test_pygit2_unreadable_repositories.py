"""Pygit2GitEngine on repositories a retry cannot fix: shallow clones and missing objects fail
at once with RepositoryUnreadable and a message that names no path."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pygit2
import pytest

from chalicelib.adapters.pygit2_git_engine import Pygit2GitEngine
from chalicelib.errors import RepositoryUnreadable
from tests.egress import guarded_engine
from tests.gitrepo import commit_files, init_repo

FILES = {"a.py": "a = 1\n", "pkg/b.py": "b = 1\n"}


@pytest.fixture
def engine(tmp_path: Path) -> Pygit2GitEngine:
    return guarded_engine(tmp_path / "cache", [str(tmp_path)]).engine


def _history(path: Path) -> str:
    init_repo(path, FILES)
    commit_files(path, {"a.py": "a = 2\n"})
    return commit_files(path, {"c.py": "c = 3\n"})


def _shallow_clone(source: Path, into: Path, *extra: str) -> None:
    cmd = ["git", "clone", "-q", "--depth", "1", *extra, f"file://{source}", str(into)]
    subprocess.run(cmd, check=True, capture_output=True)


def _drop_loose_object(repo_path: Path, oid: str) -> None:
    """Delete one object of a repository whose objects are loose (tests/gitrepo writes so)."""
    git_dir = Path(pygit2.Repository(str(repo_path)).path)
    (git_dir / "objects" / oid[:2] / oid[2:]).unlink()


def _seed_cache(engine_root: Path, remote: str, source: Path) -> Path:
    """Put a copy of `source`'s object database where the engine keeps `remote`'s clone
    (the cache layout documented in pygit2_git_engine), as if it had been fetched."""
    clone = engine_root / hashlib.sha256(remote.encode()).hexdigest()[:24]
    shutil.copytree(Path(pygit2.Repository(str(source)).path), clone)
    return clone


def _assert_says_nothing_private(exc: BaseException, tmp_path: Path) -> None:
    assert str(tmp_path) not in str(exc) and "/" not in str(exc)


@pytest.mark.parametrize("bare", [False, True])
def test_a_shallow_clone_as_remote_is_refused_before_fetching(
    tmp_path: Path, engine: Pygit2GitEngine, bare: bool
) -> None:
    head = _history(tmp_path / "full")
    shallow = tmp_path / "shallow"
    _shallow_clone(tmp_path / "full", shallow, *(["--bare"] if bare else []))
    assert pygit2.Repository(str(shallow)).is_shallow

    with pytest.raises(
        RepositoryUnreadable, match="shallow clone; Strata needs its full"
    ) as raised:
        engine.fetch(str(shallow), "main", head, [None])

    _assert_says_nothing_private(raised.value, tmp_path)


def test_a_remote_with_grafts_is_refused_as_shallow(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    head = _history(tmp_path / "grafted")
    git_dir = Path(pygit2.Repository(str(tmp_path / "grafted")).path)
    (git_dir / "info").mkdir(exist_ok=True)
    (git_dir / "info" / "grafts").write_text(f"{head}\n")

    with pytest.raises(RepositoryUnreadable, match="shallow clone"):
        engine.fetch(str(tmp_path / "grafted"), "main", head, [None])


def test_a_remote_missing_a_blob_fails_for_good_at_the_fetch(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    head = init_repo(tmp_path / "src", {**FILES, "lost.py": "lost = True\n"})
    _drop_loose_object(tmp_path / "src", str(pygit2.hash(b"lost = True\n")))

    with pytest.raises(RepositoryUnreadable, match="missing objects") as raised:
        engine.fetch(str(tmp_path / "src"), "main", head, [None])

    _assert_says_nothing_private(raised.value, tmp_path)


def test_a_blob_missing_from_the_tree_walk_fails_for_good(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    head = init_repo(tmp_path / "src", {**FILES, "lost.py": "lost = True\n"})
    remote = str(tmp_path / "src")
    clone = _seed_cache(tmp_path / "cache", remote, tmp_path / "src")
    _drop_loose_object(clone, str(pygit2.hash(b"lost = True\n")))
    engine.fetch(remote, "main", head, [None])  # the commit is cached: no network

    with pytest.raises(RepositoryUnreadable, match="missing objects") as raised:
        list(engine.list_tree(remote, head))

    _assert_says_nothing_private(raised.value, tmp_path)


def test_a_commit_missing_from_the_history_walk_fails_for_good(
    tmp_path: Path, engine: Pygit2GitEngine
) -> None:
    first = init_repo(tmp_path / "src", FILES)
    commit_files(tmp_path / "src", {"a.py": "a = 2\n"})
    head = commit_files(tmp_path / "src", {"c.py": "c = 3\n"})
    remote = str(tmp_path / "src")
    clone = _seed_cache(tmp_path / "cache", remote, tmp_path / "src")
    _drop_loose_object(clone, first)  # the root commit: what a shallow copy lacks
    engine.fetch(remote, "main", head, [None])
    assert len(list(engine.list_tree(remote, head))) == 3  # the tree itself is whole

    with pytest.raises(RepositoryUnreadable, match="missing objects") as raised:
        engine.history(remote, head, None, 10)

    _assert_says_nothing_private(raised.value, tmp_path)
