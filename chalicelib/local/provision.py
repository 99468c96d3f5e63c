"""Create Strata's AWS resources from infra/resources.json (moto in tests and the local stack).

Idempotent: a resource that exists already is left exactly as it is, so running this twice,
or against a half-provisioned endpoint, is harmless. Clients are built with
`endpoint_url=settings.endpoint_url` (None under moto's `mock_aws`) and `settings.region`.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.settings import Settings

RESOURCES_PATH = Path(__file__).parents[2] / "infra" / "resources.json"
INDEX_BUCKET = "index"  # the logical bucket whose physical name is settings.names.bucket

_MISSING_BUCKET = {"404", "NoSuchBucket", "NotFound"}
_MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


@dataclass(frozen=True)
class AwsClients:
    dynamodb: Any
    s3: Any
    sqs: Any
    kms: Any
    secretsmanager: Any = None  # only needed when the resources file defines secrets

    @classmethod
    def create(cls, settings: Settings, session: Any | None = None) -> AwsClients:
        """Clients for `settings`' region and endpoint, from `session` or boto3's default one
        (which keeps its parsed service models: a new session re-reads them, ~0.1 s each)."""
        make = session.client if session is not None else boto3.client

        def client(service: str) -> Any:
            return make(service, region_name=settings.region, endpoint_url=settings.endpoint_url)

        return cls(
            client("dynamodb"),
            client("s3"),
            client("sqs"),
            client("kms"),
            client("secretsmanager"),
        )


def load_resources(path: Path | None = None) -> dict[str, Any]:
    with (path or RESOURCES_PATH).open(encoding="utf-8") as f:
        resources: dict[str, Any] = json.load(f)
    return resources


def physical_name(settings: Settings, logical: str) -> str:
    return f"{settings.resource_prefix}-{logical}"


def provision(
    settings: Settings,
    *,
    clients: AwsClients | None = None,
    session: Any | None = None,
    path: Path | None = None,
    visibility_timeout: int | None = None,
) -> None:
    """Create every table, bucket, queue and key in the resources file that does not exist.

    `visibility_timeout` replaces every queue's VisibilityTimeout (local mode only: the
    deployed 900 s / 300 s would make a retry, and so the DLQ, take a quarter of an hour)."""
    resources = load_resources(path)
    clients = clients or AwsClients.create(settings, session)
    for logical, spec in resources.get("tables", {}).items():
        ensure_table(clients.dynamodb, physical_name(settings, logical), spec)
    for logical, spec in resources.get("buckets", {}).items():
        name = (
            settings.names.bucket if logical == INDEX_BUCKET else physical_name(settings, logical)
        )
        ensure_bucket(clients.s3, name, spec, settings.region)
    ensure_queues(clients.sqs, settings, resources.get("queues", {}), visibility_timeout)
    for spec in resources.get("keys", {}).values():
        ensure_key(clients.kms, f"alias/{physical_name(settings, spec['Alias'])}", spec)
    for logical, spec in resources.get("secrets", {}).items():
        ensure_secret(clients.secretsmanager, f"{settings.resource_prefix}/{logical}", spec)


def _properties(spec: Mapping[str, Any], *exclude: str) -> dict[str, Any]:
    """The spec without comments (`_...`) and without keys handled separately."""
    return {k: v for k, v in spec.items() if not k.startswith("_") and k not in exclude}


def _exists(describe: Any, missing: type[Exception], **names: str) -> bool:
    """True when `describe(**names)` finds the resource; False when it raises `missing`."""
    try:
        describe(**names)
    except missing:
        return False
    return True


def ensure_table(client: Any, name: str, spec: Mapping[str, Any]) -> None:
    if _exists(client.describe_table, client.exceptions.ResourceNotFoundException, TableName=name):
        return
    client.create_table(TableName=name, **_properties(spec, "TimeToLiveSpecification"))
    client.get_waiter("table_exists").wait(TableName=name)
    ttl = spec.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation-style lifecycle rule in the shape of the S3 API."""
    return {
        "ID": rule["Id"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
        "Status": rule.get("Status", "Enabled"),
        "Expiration": {"Days": rule["ExpirationInDays"]},
    }


def ensure_bucket(client: Any, name: str, spec: Mapping[str, Any], region: str) -> None:
    try:
        client.head_bucket(Bucket=name)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _MISSING_BUCKET:
            raise
    location = {} if region == "us-east-1" else {"LocationConstraint": region}
    if location:
        client.create_bucket(Bucket=name, CreateBucketConfiguration=location)
    else:
        client.create_bucket(Bucket=name)
    rules = [_lifecycle_rule(rule) for rule in spec.get("LifecycleRules", [])]
    if rules:
        client.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": rules}
        )


def _dead_letter_queues_first(
    queues: Mapping[str, Mapping[str, Any]],
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield from ((q, spec) for q, spec in queues.items() if "RedrivePolicy" not in spec)
    yield from ((q, spec) for q, spec in queues.items() if "RedrivePolicy" in spec)


def _queue_url(client: Any, name: str) -> str | None:
    try:
        url: str = client.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_QUEUE:
            return None
        raise
    return url


def _queue_arn(client: Any, url: str) -> str:
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn: str = attributes["Attributes"]["QueueArn"]
    return arn


def _queue_attributes(
    client: Any, settings: Settings, spec: Mapping[str, Any], visibility_timeout: int | None
) -> dict[str, str]:
    """SQS attributes as strings, with the redrive policy's DLQ resolved to its ARN."""
    attributes = {k: str(v) for k, v in _properties(spec, "RedrivePolicy").items()}
    if visibility_timeout is not None and "VisibilityTimeout" in attributes:
        attributes["VisibilityTimeout"] = str(visibility_timeout)
    redrive = spec.get("RedrivePolicy")
    if redrive:
        dlq_url = _queue_url(client, physical_name(settings, redrive["deadLetterQueue"]))
        if dlq_url is None:
            raise ValueError(f"dead-letter queue {redrive['deadLetterQueue']} is not defined")
        policy = {
            "deadLetterTargetArn": _queue_arn(client, dlq_url),
            "maxReceiveCount": int(redrive["maxReceiveCount"]),
        }
        attributes["RedrivePolicy"] = json.dumps(policy)
    return attributes


def ensure_queues(
    client: Any,
    settings: Settings,
    queues: Mapping[str, Any],
    visibility_timeout: int | None = None,
) -> None:
    for logical, spec in _dead_letter_queues_first(queues):
        name = physical_name(settings, logical)
        if _queue_url(client, name) is None:
            attributes = _queue_attributes(client, settings, spec, visibility_timeout)
            client.create_queue(QueueName=name, Attributes=attributes)


def queue_urls(settings: Settings, sqs_client: Any, path: Path | None = None) -> dict[str, str]:
    """Logical queue name -> URL for every provisioned queue of the resources file."""
    urls = {}
    for logical in load_resources(path).get("queues", {}):
        url = _queue_url(sqs_client, physical_name(settings, logical))
        if url is not None:
            urls[logical] = url
    return urls


def _alias_exists(client: Any, alias: str) -> bool:
    for page in client.get_paginator("list_aliases").paginate():
        if any(entry["AliasName"] == alias for entry in page["Aliases"]):
            return True
    return False


def ensure_key(client: Any, alias: str, spec: Mapping[str, Any]) -> None:
    if _alias_exists(client, alias):
        return
    key = client.create_key(
        Description=spec.get("Description", alias), KeyUsage=spec.get("KeyUsage", "ENCRYPT_DECRYPT")
    )
    key_id = key["KeyMetadata"]["KeyId"]
    if spec.get("EnableKeyRotation"):
        client.enable_key_rotation(KeyId=key_id)
    client.create_alias(AliasName=alias, TargetKeyId=key_id)


def generated_secret_string(spec: Mapping[str, Any]) -> str:
    """SecretString for a spec, as CloudFormation's GenerateSecretString makes it."""
    if "SecretString" in spec:
        return str(spec["SecretString"])
    generate = spec.get("GenerateSecretString", {})
    alphabet = string.ascii_letters + string.digits
    if not generate.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    length = int(generate.get("PasswordLength", 32))
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    key = generate.get("GenerateStringKey")
    if not key:
        return value
    document = json.loads(generate.get("SecretStringTemplate", "{}"))
    document[key] = value
    return json.dumps(document)


def ensure_secret(client: Any, name: str, spec: Mapping[str, Any]) -> None:
    if _exists(client.describe_secret, client.exceptions.ResourceNotFoundException, SecretId=name):
        return
    client.create_secret(
        Name=name,
        Description=spec.get("Description", name),
        SecretString=generated_secret_string(spec),
    )
