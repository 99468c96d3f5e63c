"""EventLog, DeliveryLog and the sweep's RepoStore methods: one set of assertions over the
in-memory fakes and the DynamoDB adapters on moto."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from chalicelib.adapters.dynamo_events import DynamoDeliveryLog, DynamoEventLog
from chalicelib.domain.models import Generation, Repository, Stats, Status
from chalicelib.ports import DeliveryLog, EventLog
from tests.fakes.stores import FakeDeliveryLog, FakeEventLog, StoreSet
from tests.integration.conftest import MotoWorld

REPO_ID = "github:acme:widgets"
REMOTE = "https://github.com/acme/widgets.git"
SHA1 = "1" * 40
T0 = 1_700_000_000.0


class Logs(NamedTuple):
    events: EventLog
    deliveries: DeliveryLog


@pytest.fixture(params=["fake", "dynamo"])
def logs(request: pytest.FixtureRequest) -> Logs:
    if request.param == "fake":
        return Logs(FakeEventLog(), FakeDeliveryLog())
    world: MotoWorld = request.getfixturevalue("moto_world")
    world.wipe()
    return Logs(DynamoEventLog(world.models, ttl_seconds=3600), DynamoDeliveryLog(world.models))


# EventLog


def test_events_list_newest_first_with_their_data(logs: Logs) -> None:
    for n in range(3):
        logs.events.append(REPO_ID, "IndexRequested", {"n": n, "sha": SHA1}, T0 + n)
    logs.events.append("github:acme:other", "IndexRequested", {"n": 9}, T0)
    page = logs.events.list(REPO_ID, 10)
    assert [e.data["n"] for e in page.events] == [2, 1, 0]
    assert [e.at for e in page.events] == [T0 + 2, T0 + 1, T0]
    assert {e.type for e in page.events} == {"IndexRequested"}
    assert page.events[0].data == {"n": 2, "sha": SHA1}
    assert page.last_key is None


def test_events_page_after_a_key_and_say_when_more_remain(logs: Logs) -> None:
    appended = [logs.events.append(REPO_ID, "E", {"n": n}, T0) for n in range(5)]
    first = logs.events.list(REPO_ID, 2)
    assert [e.key for e in first.events] == [appended[4].key, appended[3].key]
    assert first.last_key == appended[3].key
    second = logs.events.list(REPO_ID, 2, first.last_key)
    assert [e.data["n"] for e in second.events] == [2, 1]
    third = logs.events.list(REPO_ID, 2, second.last_key)
    assert [e.data["n"] for e in third.events] == [0]
    assert third.last_key is None
    assert logs.events.list(REPO_ID, 3, appended[0].key).events == ()


def test_event_data_is_kept_as_json(logs: Logs) -> None:
    logs.events.append(REPO_ID, "E", {"nested": {"a": [1, 2]}, "none": None, "f": 1.5}, T0)
    [event] = logs.events.list(REPO_ID, 1).events
    assert event.data == {"nested": {"a": [1, 2]}, "none": None, "f": 1.5}


# DeliveryLog


def test_a_delivery_is_claimed_once_until_released(logs: Logs) -> None:
    assert logs.deliveries.claim("d-1", event="push", now=T0, expires_at=T0 + 60)
    assert not logs.deliveries.claim("d-1", event="push", now=T0 + 1, expires_at=T0 + 61)
    assert logs.deliveries.claim("d-2", event="push", now=T0, expires_at=T0 + 60)
    logs.deliveries.release("d-1")
    assert logs.deliveries.claim("d-1", event="push", now=T0 + 2, expires_at=T0 + 62)
    logs.deliveries.release("never-claimed")  # harmless


# RepoStore: what webhooks and the sweep need


def request(s: StoreSet, rid: str = REPO_ID, *, is_local: bool = False) -> Repository:
    remote = "/srv/repo" if is_local else REMOTE
    return s.repos.record_request(
        Repository(id=rid, remote=remote, is_local=is_local),
        sha=SHA1,
        branch="main",
        force=False,
        now=T0,
    )


def publish(s: StoreSet) -> None:
    lease = s.locks.acquire(REPO_ID, "job", 60, T0)
    gen = Generation(f"repos/w/gen/{lease.fence}-{SHA1}", SHA1, lease.fence)
    s.repos.publish(REPO_ID, gen, Stats(total_files=1), lease, T0)
    s.locks.release(lease)


def test_auto_refresh_defaults_on_for_remotes_and_off_for_local_paths(stores: StoreSet) -> None:
    assert request(stores).auto_refresh is True
    assert request(stores, "local:repo-12345678", is_local=True).auto_refresh is False
    assert [r.id for r in stores.repos.list_auto_refresh()] == [REPO_ID]
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and repo.auto_refresh is True


def test_keeping_the_index_when_the_branch_is_deleted(stores: StoreSet) -> None:
    request(stores)
    publish(stores)
    stores.repos.mark_branch_deleted(REPO_ID, drop_index=False, now=T0 + 5)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None
    assert (repo.branch_deleted_at, repo.status, repo.indexed_sha) == (T0 + 5, Status.READY, SHA1)
    assert repo.generation is not None
    assert request(stores).branch_deleted_at is None  # a new request: the branch is back


def test_dropping_the_index_when_the_branch_is_deleted_keeps_the_fence(stores: StoreSet) -> None:
    request(stores)
    publish(stores)
    stores.repos.mark_branch_deleted(REPO_ID, drop_index=True, now=T0 + 5)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None
    assert (repo.status, repo.generation, repo.indexed_sha) == (Status.IDLE, None, None)
    assert (repo.requested_sha, repo.head_sha, repo.stats) == (None, None, Stats())
    # The branch comes back: the next job publishes with the next fence.
    request(stores)
    lease = stores.locks.acquire(REPO_ID, "next", 60, T0 + 10)
    assert lease.fence == 2
    gen = Generation(f"repos/w/gen/2-{SHA1}", SHA1, 2)
    stores.repos.publish(REPO_ID, gen, Stats(), lease, T0 + 10)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and repo.generation == gen


def test_marking_an_unknown_repository_deleted_creates_nothing(stores: StoreSet) -> None:
    stores.repos.mark_branch_deleted("github:acme:ghost", drop_index=True, now=T0)
    assert stores.repos.get("github:acme:ghost") is None
