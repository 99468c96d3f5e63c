"""The scheduled sweep and index lag, on fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.domain.events import EventType
from chalicelib.domain.freshness import lag_seconds
from chalicelib.domain.messages import IndexRepository, ParseBatch
from chalicelib.domain.models import Lease, Repository, Status
from chalicelib.domain.sweep import SweepAction, decide_sweep, refreshes_automatically
from chalicelib.errors import TransientError
from chalicelib.services.job_endings import public_message
from chalicelib.services.search import SearchQuery
from tests.fakes.aws import FakeGitEngine
from tests.freshness_harness import FreshnessHarness
from tests.harness import REMOTE, REPO_ID

OTHER_REMOTE = "https://github.com/acme/gadgets.git"
OTHER_ID = "github:acme:gadgets"
T0 = 1_700_000_000.0
SHA_A, SHA_B = "a" * 40, "b" * 40


class UnreachableGitEngine(FakeGitEngine):
    """The fake engine, with remotes that cannot be reached."""

    def __init__(self) -> None:
        super().__init__()
        self.unreachable: set[str] = set()

    def resolve_head(
        self, remote: str, branch: str | None, credentials: Sequence[str | None]
    ) -> tuple[str, str]:
        if remote in self.unreachable:
            raise TransientError("could not reach the remote")
        return super().resolve_head(remote, branch, credentials)


@pytest.fixture
def h() -> FreshnessHarness:
    return FreshnessHarness(git=UnreachableGitEngine())


def git(h: FreshnessHarness) -> UnreachableGitEngine:
    assert isinstance(h.git, UnreachableGitEngine)
    return h.git


# Pure decisions


def repo(**changes: Any) -> Repository:
    ready = Repository(
        id=REPO_ID,
        remote=REMOTE,
        branch="main",
        status=Status.READY,
        indexed_sha=SHA_A,
        requested_sha=SHA_A,
        updated_at=T0,
    )
    return replace(ready, **changes)


@pytest.mark.parametrize(
    ("changes", "head", "lease", "now", "action"),
    [
        ({}, SHA_A, None, T0 + 10, SweepAction.NOTHING),
        ({}, SHA_B, None, T0 + 10, SweepAction.REQUEST),
        ({"requested_sha": None}, SHA_A, None, T0, SweepAction.NOTHING),
        ({"requested_sha": None, "indexed_sha": None}, SHA_A, None, T0, SweepAction.REQUEST),
        # building B already: nothing, until its lease is gone for longer than a lease
        ({"status": Status.INDEXING, "requested_sha": SHA_B}, SHA_B, None, T0 + 60, "nothing"),
        ({"status": Status.INDEXING, "requested_sha": SHA_B}, SHA_B, None, T0 + 301, "reenqueue"),
        (
            {"status": Status.INDEXING, "requested_sha": SHA_B},
            SHA_B,
            Lease(REPO_ID, "job", 3, T0 + 900),
            T0 + 400,
            SweepAction.NOTHING,
        ),
        (
            {"status": Status.INDEXING, "requested_sha": SHA_B},
            SHA_B,
            Lease(REPO_ID, "job", 3, T0 + 300),
            T0 + 400,
            SweepAction.REENQUEUE,
        ),
        # a failed index at the head is not retried every hour (a push or request retries it)
        ({"status": Status.ERROR, "requested_sha": SHA_B}, SHA_B, None, T0 + 9999, "nothing"),
    ],
)
def test_decide_sweep(
    changes: dict[str, object], head: str, lease: Lease | None, now: float, action: str
) -> None:
    assert decide_sweep(repo(**changes), head, lease, now, 300).action == action


def test_only_remote_repositories_with_a_live_branch_refresh_by_default() -> None:
    assert refreshes_automatically(repo())
    assert not refreshes_automatically(repo(is_local=True))
    assert refreshes_automatically(repo(is_local=True, auto_refresh=True))
    assert not refreshes_automatically(repo(auto_refresh=False))
    assert not refreshes_automatically(repo(branch_deleted_at=T0))


def test_lag_is_the_time_since_the_unindexed_head_was_first_seen() -> None:
    assert lag_seconds(repo(head_sha=SHA_A), T0 + 50) == 0
    assert lag_seconds(repo(head_sha=SHA_B, requested_at=T0), T0 + 50.7) == 50
    assert lag_seconds(repo(head_sha=SHA_B, requested_at=None), T0 + 50) == 0
    assert lag_seconds(repo(head_sha=None), T0 + 50) == 0


# The sweep over fakes


def test_sweep_requests_a_moved_head_and_the_index_follows(h: FreshnessHarness) -> None:
    h.register()
    moved = h.git.commit(REMOTE, {"README.md": "# Widgets v2\n"})
    report = h.sweep()
    assert (report.checked, report.requested, report.finished) == (1, 1, True)
    assert list(h.queue.pending) == [IndexRepository(REPO_ID)]
    assert h.repo().requested_sha == moved
    requested = h.events.list(REPO_ID, 1).events[0]
    assert requested.type == EventType.INDEX_REQUESTED
    assert requested.data == {
        **{"sha": moved, "source": "sweep", "force": False},
        **{"branch": "main", "requestedAt": requested.at},  # for replays (ADR 23)
    }
    h.run()
    assert (h.repo().status, h.repo().indexed_sha) == (Status.READY, moved)


def test_sweep_leaves_an_unmoved_remote_alone(h: FreshnessHarness) -> None:
    h.register()
    report = h.sweep()
    assert (report.checked, report.requested, report.requeued) == (1, 0, 0)
    assert not h.queue.pending


def test_sweep_twice_enqueues_once(h: FreshnessHarness) -> None:
    h.register()
    h.git.commit(REMOTE, {"README.md": "# Widgets v2\n"})
    assert h.sweep().requested == 1
    assert h.sweep().requested == 0
    assert len(h.queue.pending) == 1


def test_sweep_reenqueues_a_job_that_died_after_its_lease_expired(h: FreshnessHarness) -> None:
    h.register()
    moved = h.git.commit(REMOTE, {"README.md": "# Widgets v2\n", "b.py": "x = 1\n"})
    h.request()
    h.run(keep=lambda m: not isinstance(m, ParseBatch))  # the parse worker never ran
    assert h.repo().status is Status.INDEXING
    assert h.sweep().requeued == 0  # the lease is still live: the job may be slow, not dead
    h.clock.advance(h.config.lease_seconds + 1)
    report = h.sweep()
    assert (report.requested, report.requeued) == (0, 1)
    assert list(h.queue.pending) == [IndexRepository(REPO_ID)]
    h.run()
    assert (h.repo().status, h.repo().indexed_sha) == (Status.READY, moved)


def test_sweep_reenqueues_a_request_whose_message_was_lost(h: FreshnessHarness) -> None:
    h.register()
    moved = h.git.commit(REMOTE, {"README.md": "# Widgets v2\n"})
    h.request()
    h.queue.pending.clear()  # e.g. the message went to the DLQ
    h.clock.advance(h.config.lease_seconds + 1)
    assert h.sweep().requeued == 1
    h.run()
    assert h.repo().indexed_sha == moved


def test_sweep_skips_local_and_opted_out_repositories_without_a_remote_call(
    h: FreshnessHarness,
) -> None:
    h.register()
    h.repos.items[REPO_ID] = replace(h.repo(), auto_refresh=False)
    local = Repository(id="local:x-12345678", remote="/srv/x", is_local=True)
    h.repos.record_request(local, sha=SHA_A, branch="main", force=False, now=0)
    report = h.sweep()
    assert (report.checked, report.skipped) == (0, 0)  # neither is listed for the sweep
    assert git(h).resolved == [REMOTE]  # only the API registration resolved the head


def test_an_unreachable_remote_is_recorded_and_the_sweep_goes_on(h: FreshnessHarness) -> None:
    h.register()
    h.git.commit(OTHER_REMOTE, {"a.py": "a = 1\n"})
    h.request(repository_id=OTHER_ID)
    h.run()
    moved = h.git.commit(OTHER_REMOTE, {"a.py": "a = 2\n"})
    git(h).unreachable.add(REMOTE)
    report = h.sweep()
    assert (report.checked, report.failed, report.requested) == (2, 1, 1)
    failure = h.events.list(REPO_ID, 1).events[0]
    assert failure.type == EventType.REFRESH_FAILED
    assert failure.data["error"] == public_message(TransientError("could not reach the remote"))
    assert "could not be reached" in failure.data["error"]
    assert h.repo(OTHER_ID).requested_sha == moved


def test_a_private_repository_is_swept_with_its_sealed_token(h: FreshnessHarness) -> None:
    h.git.commit(REMOTE, {"README.md": "# private\n"})
    h.git.remotes[REMOTE].token = "t0ken"
    h.request(access_token="t0ken")
    h.run()
    moved = h.git.commit(REMOTE, {"README.md": "# private v2\n"})
    assert h.sweep().requested == 1
    h.run()
    assert h.repo().indexed_sha == moved


def test_search_reports_the_lag_while_a_new_head_is_indexed(h: FreshnessHarness) -> None:
    h.register()
    moved = h.git.commit(REMOTE, {"README.md": "# Widgets v2\n"})
    h.push(moved)
    h.clock.advance(42)
    found = h.searcher().search(SearchQuery("widgets", (REPO_ID,))).answered[REPO_ID]
    assert (found.stale, found.head_sha, found.lag_seconds) == (True, moved, 42)
    h.run()
    found = h.searcher().search(SearchQuery("widgets", (REPO_ID,))).answered[REPO_ID]
    assert (found.stale, found.lag_seconds) == (False, 0)
