"""One set of assertions for the CheckStore port, over the fake and DynamoCheckStore on moto:
conditional transitions, batches counted once, listing newest first."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.adapters.dynamo_checks import DynamoCheckStore
from chalicelib.domain.checks import Check, CheckStatus, new_check_id
from chalicelib.errors import AlreadyExists
from chalicelib.ports import CheckStore
from tests.fakes.checks import FakeCheckStore
from tests.integration.conftest import MotoWorld

REPO_ID = "github:acme:widgets"
T0 = 1_700_000_000.0


@pytest.fixture(params=["fake", "dynamo"])
def checks(request: pytest.FixtureRequest) -> CheckStore:
    if request.param == "fake":
        return FakeCheckStore()
    world: MotoWorld = request.getfixturevalue("moto_world")
    world.wipe()
    return DynamoCheckStore(world.models)


def make(n: int = 0, **changes: object) -> Check:
    check = Check(
        repository_id=REPO_ID,
        check_id=new_check_id(T0 + n, f"{n:08x}"),
        sha="a" * 40,
        level="syntax",
        paths=("src", "a.py"),
        created_at=T0 + n,
        actor="key:k1",
    )
    return replace(check, **changes)  # type: ignore[arg-type]


def test_a_created_check_reads_back_queued_with_zero_counters(checks: CheckStore) -> None:
    check = make()
    checks.create(check)
    got = checks.get(REPO_ID, check.check_id)
    assert got is not None
    assert (got.status, got.paths, got.sha, got.level, got.actor) == (
        CheckStatus.QUEUED, ("src", "a.py"), "a" * 40, "syntax", "key:k1",
    )  # fmt: skip
    assert got.updated_at == T0 and all(v == 0 for v in got.counts.values())
    assert checks.get(REPO_ID, "chk-0000000000000-00000000") is None
    with pytest.raises(AlreadyExists):
        checks.create(check)


def test_start_only_from_queued(checks: CheckStore) -> None:
    check = make()
    checks.create(check)
    stats = {"files": 3, "skipped": {"vendored": 1}}
    assert checks.start(REPO_ID, check.check_id, total_batches=2, stats=stats, now=T0 + 1)
    assert not checks.start(REPO_ID, check.check_id, total_batches=9, stats={}, now=T0 + 2)
    got = checks.get(REPO_ID, check.check_id)
    assert got is not None
    assert (got.status, got.total_batches, got.outstanding) == (CheckStatus.RUNNING, 2, 2)
    assert got.stats == stats and got.updated_at == T0 + 1
    assert not checks.start(
        REPO_ID, "chk-0000000000000-ffffffff", total_batches=1, stats={}, now=T0
    )


def test_each_batch_counts_once_and_only_while_running(checks: CheckStore) -> None:
    check = make()
    checks.create(check)
    counts = {"units": 3, "errors": 1, "tool_runs": 2}
    assert checks.complete_batch(REPO_ID, check.check_id, 0, counts=counts, now=T0) is None
    checks.start(REPO_ID, check.check_id, total_batches=2, stats={}, now=T0)
    assert checks.complete_batch(REPO_ID, check.check_id, 1, counts=counts, now=T0) == 1
    assert checks.complete_batch(REPO_ID, check.check_id, 1, counts=counts, now=T0) is None
    assert checks.complete_batch(REPO_ID, check.check_id, 0, counts={"units": 1}, now=T0) == 0
    got = checks.get(REPO_ID, check.check_id)
    assert got is not None
    assert (got.counts["units"], got.counts["errors"], got.counts["tool_runs"]) == (4, 1, 2)


def test_an_ended_check_never_changes_again(checks: CheckStore) -> None:
    check = make()
    checks.create(check)
    checks.start(REPO_ID, check.check_id, total_batches=1, stats={}, now=T0)
    assert checks.finish(REPO_ID, check.check_id, CheckStatus.ERROR, message="why", now=T0 + 5)
    assert not checks.finish(REPO_ID, check.check_id, CheckStatus.PASSED, message=None, now=T0)
    assert checks.complete_batch(REPO_ID, check.check_id, 0, counts={"units": 1}, now=T0) is None
    got = checks.get(REPO_ID, check.check_id)
    assert got is not None and (got.status, got.message) == (CheckStatus.ERROR, "why")
    assert got.counts["units"] == 0 and got.updated_at == T0 + 5
    assert not checks.finish(
        REPO_ID, "chk-0000000000000-ffffffff", CheckStatus.ERROR, message="x", now=T0
    )


def test_a_queued_check_may_end_at_once(checks: CheckStore) -> None:
    check = make()
    checks.create(check)
    assert checks.finish(REPO_ID, check.check_id, CheckStatus.ERROR, message="not sent", now=T0)


def test_recent_lists_a_repositorys_checks_newest_first(checks: CheckStore) -> None:
    for n in (0, 2, 1):
        checks.create(make(n))
    checks.create(make(3, repository_id="github:acme:other"))
    listed = checks.recent(REPO_ID, 2)
    assert [c.created_at for c in listed] == [T0 + 2, T0 + 1]
    assert [c.created_at for c in checks.recent(REPO_ID, 10)] == [T0 + 2, T0 + 1, T0]
