"""A replayed or late push cannot move the index back; a real force push back still can.

The pushes are GitHub's own (tests/fixtures/github-webhooks/push.json, its tag deletion
turned into a push to the tracked branch), signed over the exact bytes sent, under a new
delivery id: what an attacker who captured one can send again.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api import views
from chalicelib.domain.models import Status
from tests.freshness_harness import FreshnessHarness, fixture_payload

RID = "github:Codertocat:Hello-World"
REMOTE = "https://github.com/Codertocat/Hello-World.git"
STALE = {"status": "ignored", "reason": "stale", "repositoryId": RID}


def real_push(after: str, before: str, **changes: Any) -> dict[str, Any]:
    payload = fixture_payload("push.json")
    payload.update(ref="refs/heads/main", before=before, after=after, deleted=False, **changes)
    return payload


@pytest.fixture
def h() -> FreshnessHarness:
    return FreshnessHarness()


def _history(h: FreshnessHarness) -> tuple[str, str]:
    """Registered and indexed at `first`, then a push to `second`, indexed: (first, second)."""
    first = h.git.commit(REMOTE, {"README.md": "# Hello\n"})
    h.request(repository_id=RID)
    h.run()
    second = h.git.commit(REMOTE, {"README.md": "# Hello, World\n"})
    accepted = h.deliver("push", real_push(second, first))
    assert accepted.status == "accepted"
    h.run()
    assert _indexed(h) == (Status.READY, second, second)
    return first, second


def _indexed(h: FreshnessHarness) -> tuple[Status, str | None, str | None]:
    repo = h.repos.get(RID)
    assert repo is not None
    return repo.status, repo.indexed_sha, repo.requested_sha


def test_an_old_push_sent_again_under_a_new_delivery_id_is_ignored_as_stale(
    h: FreshnessHarness,
) -> None:
    first, second = _history(h)
    replay = h.deliver("push", real_push(first, "0" * 40), delivery_id="attacker-1")
    assert views.webhook_outcome(replay) == STALE
    assert not h.queue.pending
    assert _indexed(h) == (Status.READY, second, second)


def test_a_resent_delivery_of_an_old_push_is_ignored_once_its_id_is_forgotten(
    h: FreshnessHarness,
) -> None:
    first = h.git.commit(REMOTE, {"README.md": "# Hello\n"})
    h.request(repository_id=RID)
    h.run()
    second = h.git.commit(REMOTE, {"README.md": "# Hello, World\n"})
    old = real_push(second, first)
    assert h.deliver("push", old, delivery_id="d-1").status == "accepted"
    h.run()
    third = h.git.commit(REMOTE, {"README.md": "# Hello, everyone\n"})
    assert h.deliver("push", real_push(third, second), delivery_id="d-2").status == ("accepted")
    h.run()
    del h.deliveries.items["d-1"]  # past its TTL, the delivery id is forgotten

    again = h.deliver("push", old, delivery_id="d-1")  # GitHub's "Redeliver", days later
    assert views.webhook_outcome(again) == STALE
    assert _indexed(h) == (Status.READY, third, third)


def test_a_replay_is_caught_when_this_function_has_never_fetched(h: FreshnessHarness) -> None:
    # In AWS the webhook runs in the API function, whose git cache is empty: ancestry is
    # unknown there, and the push does not continue from the newest SHA.
    first, second = _history(h)
    h.git.cached.clear()
    resolves = len(h.git.resolved)
    assert views.webhook_outcome(h.deliver("push", real_push(first, "0" * 40))) == STALE
    assert len(h.git.resolved) == resolves + 1  # the remote decided
    assert _indexed(h) == (Status.READY, second, second)


def test_a_replay_while_a_newer_push_is_being_built_is_ignored(h: FreshnessHarness) -> None:
    first, second = _history(h)
    third = h.git.commit(REMOTE, {"README.md": "# Hello, everyone\n"})
    assert h.deliver("push", real_push(third, second)).status == "accepted"
    # Not built yet: `second` is indexed, `third` requested. Old pushes come back.
    for after, before in ((second, first), (first, "0" * 40)):
        assert views.webhook_outcome(h.deliver("push", real_push(after, before))) == STALE
    h.run()
    assert _indexed(h) == (Status.READY, third, third)


def test_a_real_force_push_back_to_an_older_commit_is_accepted(h: FreshnessHarness) -> None:
    first, second = _history(h)
    h.git.remotes[REMOTE].branches["main"] = first  # git push --force origin first:main
    forced = real_push(first, second, forced=True)

    outcome = h.deliver("push", forced)

    assert outcome.status == "accepted"
    h.run()
    assert _indexed(h) == (Status.READY, first, first)


def test_a_push_that_continues_from_the_newest_sha_asks_no_remote(h: FreshnessHarness) -> None:
    _, second = _history(h)
    h.git.cached.clear()  # as in AWS: nothing fetched in this function
    third = h.git.commit(REMOTE, {"README.md": "# Hello, everyone\n"})
    resolves = len(h.git.resolved)

    assert h.deliver("push", real_push(third, second)).status == "accepted"
    assert len(h.git.resolved) == resolves


def test_a_late_delivery_of_a_push_the_remote_has_left_is_ignored(h: FreshnessHarness) -> None:
    _, second = _history(h)
    third = h.git.commit(REMOTE, {"README.md": "# v3\n"})
    fourth = h.git.commit(REMOTE, {"README.md": "# v4\n"})
    assert h.deliver("push", real_push(fourth, third)).status == "accepted"
    # The push to `third` arrives last; `third` is not in the cache, nothing chains to it.
    assert views.webhook_outcome(h.deliver("push", real_push(third, second))) == STALE
    h.run()
    assert _indexed(h) == (Status.READY, fourth, fourth)


def test_the_replay_of_a_force_push_back_is_ignored_once_the_branch_moved_on(
    h: FreshnessHarness,
) -> None:
    first, second = _history(h)
    branches = h.git.remotes[REMOTE].branches
    branches["main"] = first  # force push back to first...
    back = real_push(first, second, forced=True)
    assert h.deliver("push", back).status == "accepted"
    h.run()
    branches["main"] = second  # ... and forward again to second
    assert h.deliver("push", real_push(second, first)).status == "accepted"
    h.run()
    h.git.cached.clear()  # as in AWS: the webhook's function never fetched

    # Its `before` is the head again, so only the `forced` flag makes it suspect.
    assert views.webhook_outcome(h.deliver("push", back)) == STALE
    assert _indexed(h) == (Status.READY, second, second)


def _unflagged(after: str, before: str) -> dict[str, Any]:
    """A push that does not say whether it was forced (as some forges and relays send)."""
    payload = real_push(after, before)
    del payload["forced"]
    return payload


def test_the_cache_shows_a_push_moving_back_even_when_it_is_not_flagged_forced(
    h: FreshnessHarness,
) -> None:
    first, second = _history(h)  # both in the cache
    assert views.webhook_outcome(h.deliver("push", _unflagged(first, second))) == STALE
    assert _indexed(h) == (Status.READY, second, second)


def test_a_push_naming_the_indexed_sha_while_a_newer_one_is_requested_is_checked(
    h: FreshnessHarness,
) -> None:
    _, second = _history(h)
    third = h.git.commit(REMOTE, {"README.md": "# Hello, everyone\n"})
    assert h.deliver("push", real_push(third, second)).status == "accepted"
    h.git.cached.clear()
    assert views.webhook_outcome(h.deliver("push", _unflagged(second, third))) == STALE
    h.run()
    assert _indexed(h) == (Status.READY, third, third)
