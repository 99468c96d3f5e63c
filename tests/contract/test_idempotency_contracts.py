"""One set of assertions for the IdempotencyStore port, over the fake and
DynamoIdempotencyStore on moto (the table made from infra/resources.json): one claim per
key, expired records count as absent, and only the owner of an unanswered record writes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.adapters.dynamo_idempotency import DynamoIdempotencyStore
from chalicelib.domain.idempotency import IdempotencyRecord
from chalicelib.ports import IdempotencyStore
from tests.fakes.idempotency import FakeIdempotencyStore
from tests.integration.conftest import MotoWorld

T0 = 1_700_000_000.0
SCOPE = "commits#local:shop#acme"
RECORD = IdempotencyRecord(
    scope=SCOPE,
    key="0b3f6c1e-9a7d-4e2b",
    fingerprint="f" * 64,
    owner="commit:one",
    created_at=T0,
    expires_at=T0 + 3600,
    started_at=T0,
)


@pytest.fixture(params=["fake", "dynamo"])
def records(request: pytest.FixtureRequest) -> IdempotencyStore:
    if request.param == "fake":
        return FakeIdempotencyStore()
    world: MotoWorld = request.getfixturevalue("moto_world")
    world.wipe()
    return DynamoIdempotencyStore(world.models)


def test_a_key_is_claimed_once_and_the_second_claim_reads_the_first(
    records: IdempotencyStore,
) -> None:
    assert records.claim(RECORD, T0) is None
    second = replace(RECORD, owner="commit:two", fingerprint="e" * 64)
    assert records.claim(second, T0 + 1) == RECORD
    assert records.get(SCOPE, RECORD.key) == RECORD
    assert records.get(SCOPE, "other") is None
    assert records.claim(replace(RECORD, scope="commits#local:shop#bravo"), T0) is None


def test_an_expired_record_counts_as_absent(records: IdempotencyStore) -> None:
    assert records.claim(RECORD, T0) is None
    later = replace(RECORD, owner="commit:two", created_at=T0 + 7200, expires_at=T0 + 9000)
    assert records.claim(later, T0 + 7200) is None
    assert records.get(SCOPE, RECORD.key) == later


def test_only_the_owner_plans_and_answers_and_an_answer_never_changes(
    records: IdempotencyStore,
) -> None:
    records.claim(RECORD, T0)
    assert not records.plan(SCOPE, RECORD.key, owner="commit:two", planned="a" * 40)
    assert records.plan(SCOPE, RECORD.key, owner="commit:one", planned="a" * 40)
    assert not records.finish(SCOPE, RECORD.key, owner="commit:two", outcome="{}")
    assert records.finish(SCOPE, RECORD.key, owner="commit:one", outcome='{"sha": 1}')
    assert not records.finish(SCOPE, RECORD.key, owner="commit:one", outcome='{"sha": 2}')
    assert not records.plan(SCOPE, RECORD.key, owner="commit:one", planned="b" * 40)
    records.release(SCOPE, RECORD.key, owner="commit:one")  # answered: kept
    found = records.get(SCOPE, RECORD.key)
    assert found is not None and (found.planned, found.outcome) == ("a" * 40, '{"sha": 1}')
    assert found.done and records.take_over(found, "commit:three") is None


def test_a_record_is_taken_over_from_the_owner_seen_and_released_by_its_owner(
    records: IdempotencyStore,
) -> None:
    records.claim(RECORD, T0)
    records.plan(SCOPE, RECORD.key, owner="commit:one", planned="a" * 40)
    seen = records.get(SCOPE, RECORD.key)
    assert seen is not None
    taken = records.take_over(seen, "commit:two")
    assert taken is not None and (taken.owner, taken.planned) == ("commit:two", "a" * 40)
    assert records.take_over(seen, "commit:three") is None  # the owner it saw is gone
    records.release(SCOPE, RECORD.key, owner="commit:one")  # not the owner: kept
    assert records.get(SCOPE, RECORD.key) == taken
    records.release(SCOPE, RECORD.key, owner="commit:two")
    assert records.get(SCOPE, RECORD.key) is None
    assert not records.plan(SCOPE, RECORD.key, owner="commit:two", planned="b" * 40)
