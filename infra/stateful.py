"""CloudFormation for the stateful resources of infra/resources.json: tables, buckets,
queues with their dead-letter queues, KMS keys with aliases, secrets.

resources.json keeps CloudFormation's own property names (the local provisioner maps them
onto the API calls), so most properties pass through; what is added here is what only a
real deployment needs: physical names (a bucket's includes account and region), public
access blocked, key policies, and what happens to data when the stack goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.iam import get_att, sub
from infra.plan import Json, StagePlan, logical_id, without_comments

_BLOCK_PUBLIC = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
_ENCRYPTED = {
    "ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
}


def bucket_name(plan: StagePlan, name: str) -> Json:
    """Bucket names are global: the account and region make each stage's its own."""
    return sub(f"{plan.prefix}-{name}-${{AWS::AccountId}}-${{AWS::Region}}")


def dead_letter_queues(resources: Mapping[str, Any]) -> list[str]:
    queues = resources.get("queues", {})
    return sorted(
        {q["RedrivePolicy"]["deadLetterQueue"] for q in queues.values() if "RedrivePolicy" in q}
    )


class StatefulResources:
    def __init__(self, plan: StagePlan, resources: Mapping[str, Any]) -> None:
        self._plan = plan
        self._resources = resources
        self._policy = "Retain" if plan.retain_data else "Delete"
        self.out: Json = {}

    def build(self) -> Json:
        self._tables()
        self._buckets()
        self._queues()
        self._keys()
        self._secrets()
        return self.out

    def _add(self, logical: str, resource: Json, *, keep_data: bool = False) -> None:
        if logical in self.out:
            raise ValueError(f"two resources named {logical}")
        if keep_data:
            resource = {
                **resource,
                "DeletionPolicy": self._policy,
                "UpdateReplacePolicy": self._policy,
            }
        self.out[logical] = resource

    def _physical(self, name: str) -> str:
        return f"{self._plan.prefix}-{name}"

    def _tables(self) -> None:
        for name, spec in self._resources.get("tables", {}).items():
            properties = {"TableName": self._physical(name), **without_comments(spec)}
            if self._plan.retain_data:
                recovery = {"PointInTimeRecoveryEnabled": True}
                properties["PointInTimeRecoverySpecification"] = recovery
            table = {"Type": "AWS::DynamoDB::Table", "Properties": properties}
            self._add(logical_id("table", name), table, keep_data=True)

    def _buckets(self) -> None:
        for name, spec in self._resources.get("buckets", {}).items():
            properties: Json = {
                "BucketName": bucket_name(self._plan, name),
                "PublicAccessBlockConfiguration": _BLOCK_PUBLIC,
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketEncryption": _ENCRYPTED,
            }
            rules = [without_comments(rule) for rule in spec.get("LifecycleRules", [])]
            if rules:
                properties["LifecycleConfiguration"] = {"Rules": rules}
            bucket = {"Type": "AWS::S3::Bucket", "Properties": properties}
            self._add(logical_id("bucket", name), bucket, keep_data=True)

    def _queues(self) -> None:
        queues = self._resources.get("queues", {})
        for name, spec in queues.items():
            properties: Json = {
                "QueueName": self._physical(name),
                "SqsManagedSseEnabled": True,
                **without_comments(spec, "RedrivePolicy"),
            }
            redrive = spec.get("RedrivePolicy")
            if redrive:
                dlq = redrive["deadLetterQueue"]
                if dlq not in queues:
                    raise ValueError(f"queue {name}: dead-letter queue {dlq} is not defined")
                properties["RedrivePolicy"] = {
                    "deadLetterTargetArn": get_att(logical_id("queue", dlq), "Arn"),
                    "maxReceiveCount": int(redrive["maxReceiveCount"]),
                }
            queue = {"Type": "AWS::SQS::Queue", "Properties": properties}
            self._add(logical_id("queue", name), queue)

    def _keys(self) -> None:
        account = sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
        for name, spec in self._resources.get("keys", {}).items():
            key = logical_id("key", name)
            properties = without_comments(spec, "Alias")
            properties["KeyPolicy"] = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TheAccountGrantsUseThroughIam",
                        "Effect": "Allow",
                        "Principal": {"AWS": account},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            }
            self._add(key, {"Type": "AWS::KMS::Key", "Properties": properties}, keep_data=True)
            alias = {
                "AliasName": f"alias/{self._physical(spec['Alias'])}",
                "TargetKeyId": {"Ref": key},
            }
            self._add(f"{key}Alias", {"Type": "AWS::KMS::Alias", "Properties": alias})

    def _secrets(self) -> None:
        for name, spec in self._resources.get("secrets", {}).items():
            properties = {"Name": f"{self._plan.prefix}/{name}", **without_comments(spec)}
            secret = {"Type": "AWS::SecretsManager::Secret", "Properties": properties}
            self._add(logical_id("secret", name), secret, keep_data=True)
