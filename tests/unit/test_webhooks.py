"""POST /webhooks/github as a use case: what each push does, dedupe, ordering (fakes only)."""

from __future__ import annotations

import json

import pytest

from chalicelib.api import views
from chalicelib.domain.events import EventType
from chalicelib.domain.messages import IndexRepository, Message
from chalicelib.domain.models import Status
from chalicelib.errors import NotReady, TransientError
from chalicelib.services.search import SearchQuery
from chalicelib.services.webhooks import WebhookConfig
from tests.fakes.aws import FakeWorkQueue
from tests.freshness_harness import FreshnessHarness, push_payload, signed_headers
from tests.harness import REMOTE, REPO_ID


class FailingQueue(FakeWorkQueue):
    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def send(self, message: Message, *, delay_seconds: int = 0) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientError("SQS unavailable: send")
        super().send(message, delay_seconds=delay_seconds)


@pytest.fixture
def h() -> FreshnessHarness:
    return FreshnessHarness()


# Decisions


def test_a_push_to_the_tracked_branch_requests_its_after_sha_without_git(
    h: FreshnessHarness,
) -> None:
    h.register()
    sha = h.git.commit(REMOTE, {"README.md": "# Widgets v2\n"})
    resolves = len(h.git.resolved)
    outcome = h.push(sha)
    assert views.webhook_outcome(outcome) == {
        "status": "accepted",
        "repositoryId": REPO_ID,
        "sha": sha,
        "indexStatus": "indexing",
    }
    assert len(h.git.resolved) == resolves
    repo = h.repo()
    assert (repo.status, repo.requested_sha, repo.head_sha) == (Status.INDEXING, sha, sha)
    assert list(h.queue.pending) == [IndexRepository(REPO_ID)]
    h.run()
    assert (h.repo().status, h.repo().indexed_sha) == (Status.READY, sha)
    assert h.events.types(REPO_ID)[-4:] == [
        EventType.WEBHOOK_RECEIVED,
        EventType.INDEX_REQUESTED,
        EventType.INDEX_STARTED,
        EventType.GENERATION_PUBLISHED,
    ]
    requested = h.events.list(REPO_ID, 10).events
    sources = [e.data.get("source") for e in requested if e.type == EventType.INDEX_REQUESTED]
    assert sources == ["webhook", "api"]


def test_headers_are_matched_whatever_their_case(h: FreshnessHarness) -> None:
    h.register()
    sha = h.git.commit(REMOTE, {"README.md": "# v2\n"})
    body = json.dumps(push_payload(sha)).encode()
    headers = {k.lower(): v for k, v in signed_headers(body, "push").items()}
    assert h.receiver().receive(body, headers).status == "accepted"


def test_a_push_with_the_already_indexed_sha_does_no_work(h: FreshnessHarness) -> None:
    sha = h.register()
    outcome = h.push(sha)
    assert outcome.index_status == "ready"
    assert not h.queue.pending


def test_a_push_names_the_repository_case_insensitively(h: FreshnessHarness) -> None:
    h.register()
    sha = h.git.commit(REMOTE, {"README.md": "# v2\n"})
    outcome = h.push(sha, full_name="Acme/Widgets")
    assert outcome.repository_id == REPO_ID
    assert h.repo().requested_sha == sha


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"ref": "refs/heads/feature"}, "branch feature is not tracked (tracking main)"),
        ({"ref": "refs/tags/v1.0"}, "tag pushes are not indexed"),
        ({"ref": "refs/notes/commits"}, "refs/notes/commits is not a branch"),
        ({"full_name": "acme/unknown"}, "this repository is not registered"),
    ],
)
def test_pushes_to_untracked_refs_or_repositories_are_ignored(
    h: FreshnessHarness, kwargs: dict[str, str], reason: str
) -> None:
    h.register()
    h.queue.pending.clear()
    outcome = h.push("b" * 40, **kwargs)
    assert outcome.status == "ignored"
    assert outcome.reason == reason
    assert not h.queue.pending
    assert h.repo().requested_sha != "b" * 40


def test_other_events_are_ignored_and_ping_answers_pong(h: FreshnessHarness) -> None:
    assert views.webhook_outcome(h.deliver("ping", {"zen": "z", "hook_id": 1})) == {
        "status": "pong"
    }
    issue = h.deliver("issues", {"action": "opened", "repository": {"full_name": "acme/w"}})
    assert views.webhook_outcome(issue) == {
        "status": "ignored",
        "reason": "issues events are not used",
    }


def test_branch_deletion_keeps_the_index_by_default(h: FreshnessHarness) -> None:
    sha = h.register()
    del h.git.remotes[REMOTE].branches["main"]
    outcome = h.push("0" * 40, before=sha, deleted=True)
    assert views.webhook_outcome(outcome) == {
        "status": "accepted",
        "repositoryId": REPO_ID,
        "branchDeleted": "main",
        "indexDropped": False,
    }
    repo = h.repo()
    assert repo.branch_deleted_at == h.clock.now()
    assert (repo.status, repo.indexed_sha) == (Status.READY, sha)
    assert h.searcher().search(SearchQuery("widgets", (REPO_ID,))).hits
    deleted = h.events.list(REPO_ID, 1).events[0]
    assert deleted.type == EventType.BRANCH_DELETED
    assert deleted.data == {"branch": "main", "sha": sha, "indexDropped": False}
    assert h.sweep().skipped == 1  # a deleted branch is not swept


@pytest.mark.parametrize("drop", [False, True])
def test_a_replayed_deletion_of_a_live_branch_is_ignored(h: FreshnessHarness, drop: bool) -> None:
    h.webhook_config = WebhookConfig(drop_index_on_branch_delete=drop)
    sha = h.register()
    outcome = h.push("0" * 40, before=sha, deleted=True)  # the branch is still on the remote
    assert views.webhook_outcome(outcome) == {
        "status": "ignored",
        "reason": "stale",
        "repositoryId": REPO_ID,
    }
    repo = h.repo()
    assert repo.branch_deleted_at is None
    assert (repo.status, repo.indexed_sha) == (Status.READY, sha)


def test_branch_deletion_drops_the_index_when_configured(h: FreshnessHarness) -> None:
    h.webhook_config = WebhookConfig(drop_index_on_branch_delete=True)
    sha = h.register()
    generation = h.repo().generation
    assert generation is not None
    fence = generation.fence
    del h.git.remotes[REMOTE].branches["main"]
    h.push("0" * 40, before=sha, deleted=True)
    repo = h.repo()
    assert (repo.status, repo.generation, repo.indexed_sha) == (Status.IDLE, None, None)
    with pytest.raises(NotReady, match="not been indexed"):
        h.searcher().search(SearchQuery("widgets", (REPO_ID,)))
    # The branch comes back: the next push indexes it again, with a higher fence.
    again = h.git.commit(REMOTE, {"README.md": "# Widgets again\n"})
    assert h.push(again, before="0" * 40).status == "accepted"
    assert h.repo().branch_deleted_at is None
    h.run()
    repo = h.repo()
    assert (repo.status, repo.indexed_sha) == (Status.READY, again)
    assert repo.generation is not None and repo.generation.fence > fence


def test_a_redelivered_delivery_is_answered_duplicate_and_does_nothing(
    h: FreshnessHarness,
) -> None:
    h.register()
    sha = h.git.commit(REMOTE, {"README.md": "# v2\n"})
    first = h.deliver("push", push_payload(sha), delivery_id="d-1")
    h.run()
    again = h.deliver("push", push_payload(sha), delivery_id="d-1")
    assert first.status == "accepted"
    assert views.webhook_outcome(again) == {"status": "duplicate", "deliveryId": "d-1"}
    assert not h.queue.pending
    assert h.events.types(REPO_ID).count(EventType.WEBHOOK_RECEIVED) == 1


def test_a_delivery_that_failed_midway_can_be_redelivered(h: FreshnessHarness) -> None:
    h.register()
    h.queue = FailingQueue()
    sha = h.git.commit(REMOTE, {"README.md": "# v2\n"})
    with pytest.raises(TransientError):
        h.deliver("push", push_payload(sha), delivery_id="d-2")
    assert "d-2" not in h.deliveries.items
    assert h.deliver("push", push_payload(sha), delivery_id="d-2").status == "accepted"
    assert list(h.queue.pending) == [IndexRepository(REPO_ID)]


def test_an_older_push_delivered_last_is_ignored_as_stale(h: FreshnessHarness) -> None:
    base = h.register()
    older = h.git.commit(REMOTE, {"README.md": "# v2\n"})
    newer = h.git.commit(REMOTE, {"README.md": "# v3\n"})
    h.push(newer, before=older)
    late = h.push(older, before=base)  # GitHub delivered the older push last
    # It does not continue from the newest request: the remote says the head is `newer`.
    assert views.webhook_outcome(late) == {
        "status": "ignored",
        "reason": "stale",
        "repositoryId": REPO_ID,
    }
    h.run()
    assert (h.repo().status, h.repo().indexed_sha) == (Status.READY, newer)
    assert h.sweep().requested == 0  # nothing left to correct


def test_a_broken_event_log_never_fails_a_webhook_or_an_index(h: FreshnessHarness) -> None:
    h.register()
    h.events.fail = True
    sha = h.git.commit(REMOTE, {"README.md": "# v2\n"})
    assert h.push(sha).status == "accepted"
    h.run()
    assert (h.repo().status, h.repo().indexed_sha) == (Status.READY, sha)


# Reproducer 6: a push whose `after` is not on the branch


def test_a_push_of_a_sha_not_on_the_branch_fails_without_keeping_that_head(
    h: FreshnessHarness,
) -> None:
    real = h.register()
    bogus = "b" * 40
    assert h.push(bogus).index_status == "indexing"
    h.run()
    repo = h.repo()
    assert (repo.status, repo.indexed_sha, repo.head_sha) == (Status.ERROR, real, real)
    assert repo.error == f"commit {bogus[:12]} is not on branch 'main'"
    found = h.searcher().search(SearchQuery("widgets", (REPO_ID,))).answered[REPO_ID]
    assert (found.stale, found.lag_seconds) == (False, 0)


def test_a_push_of_the_indexed_head_after_a_failure_returns_to_ready(
    h: FreshnessHarness,
) -> None:
    real = h.register()
    h.push("b" * 40)
    h.run()
    assert h.repo().status is Status.ERROR

    outcome = h.push(real)
    assert outcome.status == "accepted"
    h.run()

    repo = h.repo()
    assert (repo.status, repo.indexed_sha, repo.head_sha, repo.error) == (
        Status.READY,
        real,
        real,
        None,
    )
    assert h.repo().generation is not None  # the same generation: nothing was rebuilt
    assert len([e for e in h.events.types(REPO_ID) if e == EventType.GENERATION_PUBLISHED]) == 1
