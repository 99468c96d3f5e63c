"""The webhook secret in Secrets Manager, and the events/deliveries tables, on moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamo_models import DeliveryItem, EventItem
from chalicelib.adapters.secretsmanager_secret_store import SecretsManagerSecretStore
from chalicelib.domain.webhook_signatures import parse_webhook_secrets
from chalicelib.errors import NotFound
from chalicelib.local.provision import generated_secret_string, load_resources, provision
from tests.integration.conftest import MotoWorld


def secrets_client(world: MotoWorld) -> Any:
    return boto3.client("secretsmanager", region_name=world.settings.region)


def by_name(entries: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(entries, key=lambda e: e["AttributeName"])


@pytest.mark.parametrize(
    ("logical", "model"), [("events", EventItem), ("deliveries", DeliveryItem)]
)
def test_model_keys_and_ttl_match_the_resources_file(logical: str, model: Any) -> None:
    spec = load_resources()["tables"][logical]
    schema = model._get_schema()
    assert by_name(schema["key_schema"]) == by_name(spec["KeySchema"])
    assert by_name(schema["attribute_definitions"]) == by_name(spec["AttributeDefinitions"])
    assert spec["TimeToLiveSpecification"]["AttributeName"] in model.get_attributes()


def test_provision_creates_the_webhook_secret_with_a_random_default(world: MotoWorld) -> None:
    name = world.settings.names.webhook_secret
    assert name == "shared/webhooks/github"
    text = secrets_client(world).get_secret_value(SecretId=name)["SecretString"]
    secrets = parse_webhook_secrets(text)
    assert len(secrets.default[0]) == 40 and secrets.default[0].isalnum()
    assert secrets.repositories == {}


def test_provisioning_again_keeps_the_secret_value(world: MotoWorld) -> None:
    client = secrets_client(world)
    name = world.settings.names.webhook_secret
    client.put_secret_value(SecretId=name, SecretString='{"default": "mine"}')
    provision(world.settings)
    assert client.get_secret_value(SecretId=name)["SecretString"] == '{"default": "mine"}'


def test_the_secret_store_reads_strings_and_reports_a_missing_secret(world: MotoWorld) -> None:
    store = SecretsManagerSecretStore(secrets_client(world))
    secrets_client(world).put_secret_value(
        SecretId=world.settings.names.webhook_secret, SecretString='{"default": "abc"}'
    )
    assert json.loads(store.read(world.settings.names.webhook_secret)) == {"default": "abc"}
    with pytest.raises(NotFound, match="read secret nope"):
        store.read("nope")


def test_generated_secret_strings_follow_the_cloudformation_spec() -> None:
    spec = {
        "GenerateSecretString": {
            "SecretStringTemplate": '{"repositories": {}}',
            "GenerateStringKey": "default",
            "PasswordLength": 12,
            "ExcludePunctuation": True,
        }
    }
    doc = json.loads(generated_secret_string(spec))
    assert doc["repositories"] == {} and len(doc["default"]) == 12
    assert generated_secret_string({"SecretString": "x"}) == "x"
    assert len(generated_secret_string({"GenerateSecretString": {"PasswordLength": 8}})) == 8


def test_event_items_carry_a_ttl_and_json_data(world: MotoWorld) -> None:
    from chalicelib.adapters.dynamo_events import DynamoEventLog

    log = DynamoEventLog(world.models, ttl_seconds=100)
    event = log.append("github:acme:widgets", "IndexRequested", {"sha": "a" * 40}, 1_000.5)
    item = world.client.get_item(
        TableName=world.settings.names.tables["events"],
        Key={"repository_id": {"S": "github:acme:widgets"}, "event_key": {"S": event.key}},
    )["Item"]
    assert item["expires_at"] == {"N": "1100"}
    assert json.loads(item["data"]["S"]) == {"sha": "a" * 40}
    assert item["type"] == {"S": "IndexRequested"}
