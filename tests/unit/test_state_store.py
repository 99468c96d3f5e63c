"""The local stack's store on disk (an object pack plus a manifest) and its group commit.

Plain files under tmp_path; no moto."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.local.durability import GroupCommit, PersistFailed
from chalicelib.local.store import MANIFEST, Changes, StateStore


def _objects(store: StateStore) -> dict[str, bytes]:
    return {name: bytes(data) for name, data in store.objects()}


def test_a_reopened_store_replays_puts_and_deletes(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "aws")
    store.commit(Changes([("index/a", b"alpha"), ("index/b", b"beta")], [], {"n": 1}))
    store.commit(Changes([("index/a", b"ALPHA"), ("jobs/c", b"")], ["index/b"], {"n": 2}))

    again = StateStore(tmp_path / "aws")
    assert _objects(again) == {"index/a": b"ALPHA", "jobs/c": b""}
    assert again.small == {"n": 2}


def test_a_commit_that_changes_nothing_writes_nothing(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "aws")
    assert store.commit(Changes([("index/a", b"alpha")], [], {"n": 1})) is not None
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "aws").iterdir()}
    assert store.commit(Changes([], [], {"n": 1})) is None
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "aws").iterdir()} == before


def test_an_unpublished_commit_is_cut_off_and_later_commits_replay(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "aws")
    store.commit(Changes([("index/kept", b"kept")], [], {"n": 1}))
    prepared = store.prepare(Changes([("index/torn", b"torn" * 100)], ["index/kept"], {"n": 2}))
    assert prepared is not None  # written and fsynced, never renamed: a crash here
    pack = next((tmp_path / "aws").glob("objects-*.pack"))
    torn_size = pack.stat().st_size

    reopened = StateStore(tmp_path / "aws")
    assert _objects(reopened) == {"index/kept": b"kept"}
    assert reopened.small == {"n": 1}
    assert pack.stat().st_size < torn_size
    assert not (tmp_path / "aws" / (MANIFEST + ".tmp")).exists()
    reopened.commit(Changes([("index/after", b"after")], [], {"n": 3}))
    assert _objects(StateStore(tmp_path / "aws")) == {
        "index/kept": b"kept",
        "index/after": b"after",
    }


def test_compaction_drops_deleted_objects_and_keeps_live_ones(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "aws", compact_min_bytes=4096)
    store.commit(Changes([("index/live", b"L" * 1000)], [], {}))
    for job in range(20):  # staging objects, written then deleted: garbage
        store.commit(Changes([(f"jobs/{job}/batch", b"S" * 1000)], [], {"job": job}))
        store.commit(Changes([], [f"jobs/{job}/batch"], {"job": job}))
    packs = list((tmp_path / "aws").glob("objects-*.pack"))
    assert len(packs) == 1 and packs[0].name != "objects-000001.pack"
    assert packs[0].stat().st_size < 4096 + 2 * 1000  # bounded by the threshold, not 20 kB
    assert _objects(StateStore(tmp_path / "aws")) == {"index/live": b"L" * 1000}


def test_store_files_are_private(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "aws")
    store.commit(Changes([("index/a", b"alpha")], [], {"secret": "s"}))
    assert stat.S_IMODE((tmp_path / "aws").stat().st_mode) & 0o077 == 0
    for path in (tmp_path / "aws").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


class _Commits:
    """A commit function that covers the mutation count at its start; can be held open."""

    def __init__(self) -> None:
        self.mutations = 0
        self.calls = 0
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.failing = False

    def __call__(self) -> int:
        covered = self.mutations
        self.calls += 1
        self.entered.set()
        self.hold.wait(10)
        if self.failing:
            raise OSError("disk full")
        return covered


def _wait_for(check: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def test_concurrent_persists_share_one_commit() -> None:
    commits = _Commits()
    group = GroupCommit(commits, lambda: commits.mutations, interval=60)
    group.start()
    try:
        commits.mutations = 1
        commits.hold.clear()
        first = threading.Thread(target=group.persist)
        first.start()
        _wait_for(commits.entered.is_set, "the first commit")
        commits.mutations = 3  # two more requests while the first commit runs
        others = [threading.Thread(target=group.persist) for _ in range(4)]
        for t in others:
            t.start()
        _wait_for(lambda: group.waits == 5, "every caller to wait")
        commits.hold.set()
        for t in [first, *others]:
            t.join(10)
        assert commits.calls == 2  # the four later callers shared the second commit
        group.persist()  # nothing changed since: no commit
        assert commits.calls == 2
    finally:
        group.close()


def test_a_failed_commit_fails_its_caller_and_the_next_commit_serves_new_ones() -> None:
    commits = _Commits()
    group = GroupCommit(commits, lambda: commits.mutations, interval=60)
    group.start()
    try:
        commits.mutations, commits.failing = 1, True
        with pytest.raises(PersistFailed, match="could not save"):
            group.persist()
        commits.mutations, commits.failing = 2, False
        group.persist()
    finally:
        group.close()


def test_persist_after_close_refuses() -> None:
    commits = _Commits()
    group = GroupCommit(commits, lambda: commits.mutations, interval=60)
    group.start()
    group.close()
    commits.mutations = 1
    with pytest.raises(PersistFailed, match="stopping"):
        group.persist()
