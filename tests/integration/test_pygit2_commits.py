"""Pygit2GitEngine's writing half against real remotes: a smart-HTTPS server with
authentication (reached through the egress proxy, tests/egress.py) and local repositories.
Compare-and-swap holds at the remote itself (a branch moved between the client's read and
its ref update), rejections and refused tokens change nothing, tokens stay out of the log,
and a copy of objects that dies halfway never leaves an object whose parts are missing."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode

from chalicelib.adapters.pygit2_commits import (
    BUSY,
    CHECKED_OUT,
    REFUSED_UPDATE,
    _copy_objects,
)
from chalicelib.adapters.pygit2_git_engine import Pygit2GitEngine
from chalicelib.domain.commits import Author, CommitMeta, FileChange
from chalicelib.errors import AccessDenied, BranchMoved, InvalidRequest, TransientError
from tests.egress import GIT_HOST, Guarded, guarded_engine, server_context
from tests.gitrepo import commit_files, init_repo
from tests.integration.git_http_server import GitHttpServer

FILES = {"README.md": "# demo\n", "src/app.py": "print('hi')\n"}
TOKEN = "ghs_push-token-that-must-stay-home"
WRONG = "ghu_a-wrong-token-also-secret"
META = CommitMeta("change", Author("Ada", "ada@example.com"), Author("Ada", "ada@example.com"), 7)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return server_context(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Guarded]:
    setup = guarded_engine(tmp_path / "cache", [str(tmp_path)])
    yield setup
    setup.proxy.stop()


@pytest.fixture
def served(tmp_path: Path, tls: ssl.SSLContext, guarded: Guarded) -> Iterator[GitHttpServer]:
    init_repo(tmp_path / "served" / "demo.git", FILES, bare=True)
    with GitHttpServer(tmp_path / "served", password=TOKEN, tls=tls, host=GIT_HOST) as server:
        guarded.allow(server.netloc)
        yield server


def head(path: Path, branch: str = "main") -> str:
    return str(pygit2.Repository(str(path)).references[f"refs/heads/{branch}"].target)


def prepared(engine: Pygit2GitEngine, url: str, *changes: FileChange) -> tuple[str, str]:
    """(base, a commit of `changes` on it) in the engine's cache."""
    _, base = engine.resolve_head(url, "main", [TOKEN])
    engine.fetch(url, "main", base, [TOKEN])
    sha = engine.write_commit(url, base, list(changes) or [FileChange("a.py", b"a = 1\n")], META)
    return base, sha


def test_a_push_over_https_offers_the_credentials_in_turn_and_keeps_them_out_of_the_log(
    guarded: Guarded, served: GitHttpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url, path = served.url("demo.git"), tmp_path / "served" / "demo.git"
    base, sha = prepared(guarded.engine, url)
    with pytest.raises(AccessDenied) as refused:
        guarded.engine.push(url, "main", base, sha, [None, WRONG])
    assert head(path) == base
    guarded.engine.push(url, "main", base, sha, [None, WRONG, TOKEN])
    assert head(path) == sha
    assert served.passwords()[-2:] == [TOKEN, TOKEN]  # the advertisement, then the pack
    for secret in (TOKEN, WRONG):
        assert secret not in caplog.text and secret not in str(refused.value)
    command = ["git", "-C", str(path), "fsck", "--strict"]
    fsck = subprocess.run(command, capture_output=True, check=False)
    assert fsck.returncode == 0, fsck.stderr


def test_a_branch_moved_between_the_read_and_the_update_is_not_overwritten(
    guarded: Guarded, served: GitHttpServer, tmp_path: Path
) -> None:
    url, path = served.url("demo.git"), tmp_path / "served" / "demo.git"
    base, sha = prepared(guarded.engine, url)
    theirs: list[str] = []
    served.on_receive_pack = lambda: theirs.append(commit_files(path, {"theirs.py": "t\n"}))
    with pytest.raises(BranchMoved):  # receive-pack found the ref off the old value it got
        guarded.engine.push(url, "main", base, sha, [TOKEN])
    assert head(path) == theirs[0] != sha


def test_a_push_from_a_base_the_branch_left_is_stopped_before_it_sends_anything(
    guarded: Guarded, served: GitHttpServer, tmp_path: Path
) -> None:
    url, path = served.url("demo.git"), tmp_path / "served" / "demo.git"
    base, sha = prepared(guarded.engine, url)
    theirs = commit_files(path, {"theirs.py": "t\n"})
    with pytest.raises(BranchMoved) as moved:
        guarded.engine.push(url, "main", base, sha, [TOKEN])
    assert moved.value.current_sha == theirs == head(path)
    assert ("POST", "/demo.git/git-receive-pack", 200) not in served.requests


def test_a_push_the_remote_declines_changes_nothing(
    guarded: Guarded, served: GitHttpServer, tmp_path: Path
) -> None:
    url, path = served.url("demo.git"), tmp_path / "served" / "demo.git"
    hook = path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    base, sha = prepared(guarded.engine, url)
    with pytest.raises(AccessDenied, match=re.escape(REFUSED_UPDATE)):
        guarded.engine.push(url, "main", base, sha, [TOKEN])
    assert head(path) == base


def test_a_local_push_refuses_a_checked_out_branch_but_not_another(
    guarded: Guarded, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    base = init_repo(work, FILES)  # a worktree with main checked out
    engine = guarded.engine
    engine.fetch(str(work), "main", base, [None])
    sha = engine.write_commit(str(work), base, [FileChange("a.py", b"a\n")], META)
    with pytest.raises(InvalidRequest, match="checked out"):
        engine.push(str(work), "main", base, sha, [None])
    assert CHECKED_OUT.startswith("the branch is checked out")
    repo = pygit2.Repository(str(work))
    repo.branches.local.create("feature", repo[base].peel(pygit2.Commit))
    engine.push(str(work), "feature", base, sha, [None])
    assert (head(work), head(work, "feature")) == (base, sha)


def test_a_local_push_waits_for_no_one_when_another_writer_holds_the_ref(
    guarded: Guarded, tmp_path: Path
) -> None:
    remote = tmp_path / "demo.git"
    base = init_repo(remote, FILES, bare=True)
    engine = guarded.engine
    engine.fetch(str(remote), "main", base, [None])
    sha = engine.write_commit(str(remote), base, [FileChange("a.py", b"a\n")], META)
    lock = remote / "refs" / "heads" / "main.lock"
    lock.write_text(base + "\n")  # git's own lock: another writer is moving main
    with pytest.raises(TransientError, match=re.escape(BUSY)):
        engine.push(str(remote), "main", base, sha, [None])
    lock.unlink()
    assert head(remote) == base
    engine.push(str(remote), "main", base, sha, [None])
    assert head(remote) == sha


def test_a_changed_file_keeps_its_mode_and_a_new_one_is_a_plain_file(
    guarded: Guarded, tmp_path: Path
) -> None:
    remote = tmp_path / "demo.git"
    init_repo(remote, FILES, bare=True)
    repo = pygit2.Repository(str(remote))
    tree = repo.TreeBuilder(repo.head.peel(pygit2.Tree))
    tree.insert("run.sh", repo.create_blob(b"#!/bin/sh\n"), FileMode.BLOB_EXECUTABLE)
    tree.insert("link", repo.create_blob(b"README.md"), FileMode.LINK)
    sig = pygit2.Signature("t", "t@t", 1, 0)
    parents = [repo.head.target]
    base = str(repo.create_commit("refs/heads/main", sig, sig, "modes", tree.write(), parents))
    engine = guarded.engine
    engine.fetch(str(remote), "main", base, [None])
    changes = [
        FileChange("run.sh", b"#!/bin/sh\necho hi\n"),
        FileChange("link", b"src/app.py"),
        FileChange("new.sh", b"#!/bin/sh\n"),
    ]
    sha = engine.write_commit(str(remote), base, changes, META)
    engine.push(str(remote), "main", base, sha, [None])
    modes = {e.name: int(e.filemode) for e in pygit2.Repository(str(remote))[sha].peel(pygit2.Tree)}
    assert (modes["run.sh"], modes["link"], modes["new.sh"]) == (
        FileMode.BLOB_EXECUTABLE,
        FileMode.LINK,
        FileMode.BLOB,
    )


class _DyingOdb:
    """An object database that stops for good after `writes` writes (a killed copy)."""

    def __init__(self, odb: pygit2.Odb, writes: int) -> None:
        self._odb = odb
        self.left = writes

    def exists(self, oid: pygit2.Oid) -> bool:
        return bool(self._odb.exists(oid))

    def write(self, kind: int, data: bytes) -> pygit2.Oid:
        if self.left == 0:
            raise OSError("killed")
        self.left -= 1
        return self._odb.write(kind, data)


class _Target:
    def __init__(self, odb: _DyingOdb) -> None:
        self.odb = odb


@pytest.mark.parametrize("writes", range(0, 9))
def test_a_copy_killed_after_any_write_leaves_only_complete_objects(
    guarded: Guarded, tmp_path: Path, writes: int
) -> None:
    remote = tmp_path / "demo.git"
    base = init_repo(remote, FILES, bare=True)
    engine = guarded.engine
    engine.fetch(str(remote), "main", base, [None])
    changes = [
        FileChange("a/b/c.py", b"c\n"),
        FileChange("a/b/d.py", b"c\n"),  # the same blob twice
        FileChange("a/e.py", b"e\n"),
        FileChange("src/app.py", b"print('bye')\n"),
    ]
    sha = engine.write_commit(str(remote), base, changes, META)
    source = pygit2.Repository(os.path.join(guarded.engine._clone_path(str(remote))))
    target = pygit2.Repository(str(remote))
    dying = _Target(_DyingOdb(target.odb, writes))
    with contextlib.suppress(OSError):
        _copy_objects(source, dying, pygit2.Oid(hex=sha))  # type: ignore[arg-type]
    for oid in _objects(target):  # every object there has every object it references
        obj = target[oid]
        refs = [obj.tree_id] if isinstance(obj, pygit2.Commit) else []
        refs += [e.id for e in obj] if isinstance(obj, pygit2.Tree) else []
        assert all(target.odb.exists(r) for r in refs), f"{oid} is missing parts"
    _copy_objects(source, target, pygit2.Oid(hex=sha))  # the next attempt completes it
    assert target.odb.exists(pygit2.Oid(hex=sha))


def _objects(repo: pygit2.Repository) -> list[pygit2.Oid]:
    listing = subprocess.run(
        ["git", "-C", repo.path, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [pygit2.Oid(hex=line) for line in listing.stdout.split()]
