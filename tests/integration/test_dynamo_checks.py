"""What only DynamoCheckStore can get wrong: the table's schema and the item's shape."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo_checks import CHECK_TTL_SECONDS, DynamoCheckStore
from chalicelib.adapters.dynamo_models import CheckItem
from chalicelib.domain.checks import Check, CheckStatus
from chalicelib.local.provision import load_resources
from tests.integration.conftest import MotoWorld

T0 = 1_700_000_000.0


def test_model_keys_and_ttl_match_the_resources_file() -> None:
    spec = load_resources()["tables"]["checks"]
    schema = CheckItem._get_schema()

    def ordered(rows: Any) -> list[Any]:
        return sorted(rows, key=lambda row: row["AttributeName"])

    assert ordered(schema["key_schema"]) == ordered(spec["KeySchema"])
    assert ordered(schema["attribute_definitions"]) == ordered(spec["AttributeDefinitions"])
    assert spec["TimeToLiveSpecification"]["AttributeName"] in CheckItem.get_attributes()


def test_a_check_item_keeps_light_fields_and_expires_with_its_report(world: MotoWorld) -> None:
    store = DynamoCheckStore(world.models)
    check = Check("github:a:b", "chk-1700000000000-0a0a0a0a", "c" * 40, "build", (), created_at=T0)
    store.create(check)
    store.start("github:a:b", check.check_id, total_batches=1, stats={"files": 2}, now=T0)
    store.complete_batch("github:a:b", check.check_id, 0, counts={"errors": 2}, now=T0)
    store.finish("github:a:b", check.check_id, CheckStatus.FAILED, message=None, now=T0)
    item = world.client.get_item(
        TableName=world.settings.names.tables["checks"],
        Key={"repository_id": {"S": "github:a:b"}, "check_id": {"S": check.check_id}},
    )["Item"]
    assert item["expires_at"] == {"N": str(int(T0) + CHECK_TTL_SECONDS)}
    assert item["status"] == {"S": "failed"} and "paths" not in item and "message" not in item
    assert item["done_batches"] == {"NS": ["0"]} and item["errors"] == {"N": "2"}
    assert item["stats"] == {"S": '{"files":2}'}
