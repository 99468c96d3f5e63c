"""provision() builds every resource of infra/resources.json, once, under Settings' names."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.local.provision import load_resources, provision, queue_urls
from chalicelib.settings import Settings
from tests.integration.conftest import MotoWorld

FOURTEEN_DAYS = 14 * 24 * 3600


@pytest.fixture
def provisioned(moto_world: MotoWorld) -> Settings:
    """One provisioning per module (the same moto serves every test here)."""
    return moto_world.settings


def client(settings: Settings, service: str) -> Any:
    return boto3.client(service, region_name=settings.region)


def queue_attributes(settings: Settings, name: str) -> dict[str, str]:
    sqs = client(settings, "sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    response = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes: dict[str, str] = response["Attributes"]
    return attributes


def test_creates_the_tables_with_keys_billing_and_ttl(provisioned: Settings) -> None:
    dynamodb = client(provisioned, "dynamodb")
    spec = load_resources()["tables"]
    for logical, name in provisioned.names.tables.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == spec[logical]["KeySchema"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in spec[logical]:  # jobs, conversations, events, deliveries
            assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_creates_the_bucket_with_job_staging_expiring_after_a_day(provisioned: Settings) -> None:
    s3 = client(provisioned, "s3")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=provisioned.names.bucket)["Rules"]
    assert [(r["Filter"]["Prefix"], r["Expiration"]["Days"], r["Status"]) for r in rules] == [
        ("jobs/", 1, "Enabled"),
        ("checks/runs/", 30, "Enabled"),  # check plans and reports, as long as their records
    ]


@pytest.mark.parametrize(
    ("queue", "visibility"), [("index", "900"), ("parse", "300"), ("check", "900")]
)
def test_queues_redrive_to_their_dead_letter_queue_after_five_receives(
    provisioned: Settings, queue: str, visibility: str
) -> None:
    names = provisioned.names
    attributes = queue_attributes(provisioned, names.queues[queue])
    dlq = queue_attributes(provisioned, names.dead_letter_queues[queue])
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    assert attributes["VisibilityTimeout"] == visibility
    assert dlq["MessageRetentionPeriod"] == str(FOURTEEN_DAYS)
    assert "RedrivePolicy" not in dlq


def test_creates_the_token_key_under_its_alias(provisioned: Settings) -> None:
    kms = client(provisioned, "kms")
    aliases = kms.list_aliases()["Aliases"]
    alias = next(a for a in aliases if a["AliasName"] == provisioned.names.token_key_alias)
    assert kms.get_key_rotation_status(KeyId=alias["TargetKeyId"])["KeyRotationEnabled"]
    sealed = kms.encrypt(KeyId=provisioned.names.token_key_alias, Plaintext=b"token")
    assert kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"])["Plaintext"] == b"token"


def test_queue_urls_names_every_queue_and_dead_letter_queue(provisioned: Settings) -> None:
    urls = queue_urls(provisioned, client(provisioned, "sqs"))
    assert sorted(urls) == [
        "callback", "callback-dlq", "check", "check-dlq", "embed", "embed-dlq", "index",
        "index-dlq", "parse", "parse-dlq",
    ]  # fmt: skip
    assert urls["index"].endswith("/" + provisioned.names.queues["index"])
    assert urls["parse-dlq"].endswith("/" + provisioned.names.dead_letter_queues["parse"])


def test_running_twice_leaves_existing_resources_alone(provisioned: Settings) -> None:
    kms = client(provisioned, "kms")
    before = {
        "keys": kms.list_keys()["Keys"],
        "queues": client(provisioned, "sqs").list_queues()["QueueUrls"],
        "tables": client(provisioned, "dynamodb").list_tables()["TableNames"],
        "index": queue_attributes(provisioned, provisioned.names.queues["index"]),
    }
    provision(provisioned)
    after = {
        "keys": kms.list_keys()["Keys"],
        "queues": client(provisioned, "sqs").list_queues()["QueueUrls"],
        "tables": client(provisioned, "dynamodb").list_tables()["TableNames"],
        "index": queue_attributes(provisioned, provisioned.names.queues["index"]),
    }
    assert after == before
    aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert aliases.count(provisioned.names.token_key_alias) == 1


def test_honours_an_explicit_bucket_name(provisioned: Settings) -> None:
    settings = Settings(resource_prefix="other", bucket_name="my-own-bucket")
    provision(settings)
    buckets = {b["Name"] for b in client(settings, "s3").list_buckets()["Buckets"]}
    assert "my-own-bucket" in buckets
    assert "other-index" not in buckets


def test_a_region_other_than_us_east_1_gets_a_location_constraint(provisioned: Settings) -> None:
    settings = Settings(resource_prefix="europe", region="eu-west-1")
    provision(settings)
    location = client(settings, "s3").get_bucket_location(Bucket=settings.names.bucket)
    assert location["LocationConstraint"] == "eu-west-1"
    assert client(settings, "sqs").get_queue_url(QueueName="europe-index")["QueueUrl"]
