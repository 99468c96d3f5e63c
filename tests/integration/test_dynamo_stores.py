"""What only the DynamoDB stores can get wrong: item shapes, schema, error translation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pynamodb.exceptions import (
    CancellationReason,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
    VerboseClientError,
)

from chalicelib.adapters.dynamo_errors import translate
from chalicelib.adapters.dynamo_models import (
    ConversationItem,
    IdempotencyItem,
    JobItem,
    LockItem,
    RepositoryItem,
    bind_models,
)
from chalicelib.adapters.dynamo_stores import (
    DynamoConversationStore,
    DynamoJobStore,
    DynamoLockManager,
    DynamoRepoStore,
)
from chalicelib.domain.models import Generation, Job, Repository, Stats
from chalicelib.errors import PermanentError, TransientError
from chalicelib.local.provision import load_resources
from chalicelib.ports import Turn
from tests.integration.conftest import MotoWorld

REPO_ID = "github:acme:widgets"
T0 = 1_700_000_000.0
MODELS = {
    "repositories": RepositoryItem,
    "locks": LockItem,
    "jobs": JobItem,
    "conversations": ConversationItem,
    "idempotency": IdempotencyItem,
}


def raw_item(world: MotoWorld, table: str, key: str, value: str) -> dict[str, Any]:
    response = world.client.get_item(
        TableName=world.settings.names.tables[table], Key={key: {"S": value}}
    )
    item: dict[str, Any] = response.get("Item", {})
    return item


@pytest.mark.parametrize("logical", sorted(MODELS))
def test_model_keys_and_ttl_match_the_resources_file(logical: str) -> None:
    spec = load_resources()["tables"][logical]
    schema = MODELS[logical]._get_schema()

    # pynamodb lists the keys in its own order (a range key may come first).
    def named(items: Any) -> list[Any]:
        return sorted(items, key=lambda item: item["AttributeName"])

    assert named(schema["key_schema"]) == named(spec["KeySchema"])
    assert named(schema["attribute_definitions"]) == named(spec["AttributeDefinitions"])
    ttl = spec.get("TimeToLiveSpecification")
    if ttl:
        assert ttl["AttributeName"] in MODELS[logical].get_attributes()


def test_released_lock_item_keeps_its_fence_and_drops_its_owner(world: MotoWorld) -> None:
    lease = world.stores.locks.acquire(REPO_ID, "a", 60, T0)
    world.stores.locks.release(lease)
    item = raw_item(world, "locks", "lock_id", REPO_ID)
    assert item == {"lock_id": {"S": REPO_ID}, "fence": {"N": "1"}, "lease_until": {"N": "0"}}


def test_published_repository_item_stores_the_generation_pointer_and_stats(
    world: MotoWorld,
) -> None:
    s = world.stores
    s.repos.record_request(
        Repository(id=REPO_ID, remote="https://x/y.git"),
        sha="a" * 40,
        branch="main",
        force=False,
        now=T0,
    )
    lease = s.locks.acquire(REPO_ID, "a", 60, T0)
    stats = Stats(total_files=2, languages={"python": 2}, extensions={".py": 2})
    s.repos.publish(REPO_ID, Generation("repos/x/gen/1-a", "a" * 40, 1), stats, lease, T0)
    item = raw_item(world, "repositories", "repository_id", REPO_ID)
    assert item["generation_fence"] == {"N": "1"}
    assert item["generation_key"] == {"S": "repos/x/gen/1-a"}
    assert item["stats"]["M"]["languages"] == {"M": {"python": {"N": "2"}}}
    assert item["files_processed"] == {"N": "0"}  # no job ran: num_files defaults to 0
    assert "error" not in item


def test_job_item_records_done_batches_and_expires_after_a_week(world: MotoWorld) -> None:
    job = Job("job-1", REPO_ID, "a" * 40, fence=1, owner="a", created_at=T0)
    world.stores.jobs.create(job)
    world.stores.jobs.set_plan("job-1", total_batches=3, num_files=3)
    world.stores.jobs.complete_batch("job-1", 2, files=1, parsed=1, reused=0)
    world.stores.jobs.complete_batch("job-1", 0, files=1, parsed=1, reused=0)
    item = raw_item(world, "jobs", "job_id", "job-1")
    assert sorted(item["done_batches"]["NS"]) == ["0", "2"]
    assert item["expires_at"] == {"N": str(int(T0) + 7 * 24 * 3600)}


def test_conversation_item_is_trimmed_to_twenty_turns(world: MotoWorld) -> None:
    for n in range(22):
        world.stores.conversations.append("c1", Turn(f"q{n}", f"a{n}"), expires_at=T0 + 0.5)
    item = raw_item(world, "conversations", "conversation_id", "c1")
    assert len(item["turns"]["L"]) == 20
    assert item["turns"]["L"][0] == {"M": {"question": {"S": "q2"}, "answer": {"S": "a2"}}}
    assert item["expires_at"] == {"N": str(int(T0))}


def test_missing_tables_surface_as_permanent_errors_not_pynamodb_ones(
    world: MotoWorld,
) -> None:
    names = {logical: f"absent-{logical}" for logical in MODELS}
    models = bind_models(names, world.settings.region, None)
    job = Job("job-1", REPO_ID, "a" * 40, fence=1, owner="a")
    calls: list[Callable[[], object]] = [
        lambda: DynamoRepoStore(models).get(REPO_ID),
        lambda: DynamoLockManager(models).acquire(REPO_ID, "a", 60, T0),
        lambda: DynamoJobStore(models).create(job),
        lambda: DynamoConversationStore(models).append("c", Turn("q", "a"), expires_at=T0),
    ]
    for call in calls:
        with pytest.raises(PermanentError, match="ResourceNotFoundException") as raised:
            call()
        assert isinstance(raised.value.__cause__, PynamoDBException)


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")


def test_throttling_translates_to_a_transient_error() -> None:
    exc = UpdateError("throttled", _client_error("ProvisionedThroughputExceededException"))
    assert isinstance(translate(exc, "update x"), TransientError)


def test_a_connection_failure_translates_to_a_transient_error() -> None:
    exc = UpdateError("no route", EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    error = translate(exc, "update x")
    assert isinstance(error, TransientError)
    assert "update x" in error.message


def test_a_transaction_conflict_translates_to_a_transient_error() -> None:
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code="TransactionConflict"), None],
    )
    assert isinstance(translate(TransactWriteError("cancelled", cause), "publish"), TransientError)


def test_a_validation_error_translates_to_a_permanent_error() -> None:
    error = translate(UpdateError("bad", _client_error("ValidationException")), "update x")
    assert isinstance(error, PermanentError)
    assert "ValidationException" in error.message
