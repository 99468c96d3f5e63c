"""Resolve a generated template's intrinsic functions (Ref, Fn::GetAtt, Fn::Sub) to the
physical names and ARNs of resources made by other means: the local provisioner on moto,
with the same names. Enough for the IAM policies of infra/template.py; anything else fails.

Physical names come from the resource's own name property (TableName, QueueName,
BucketName, AliasName, Name); an ARN AWS makes up (a KMS key id, a secret's random suffix)
is looked up through `lookup` (kind, name) -> ARN.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

ACCOUNT = "123456789012"
Lookup = Callable[[str, str], str]


class TemplateResolver:
    def __init__(
        self,
        template: Mapping[str, Any],
        lookup: Lookup,
        *,
        region: str = "us-east-1",
        stack_name: str = "strata-dev",
    ) -> None:
        self._resources = template["Resources"]
        self._lookup = lookup
        self._region = region
        self._pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            return self.get_att(logical, attribute)
        if set(value) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1)), value["Fn::Sub"])
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, name: str) -> str:
        if name in self._pseudo:
            return self._pseudo[name]
        if "." in name:
            logical, attribute = name.split(".", 1)
            return str(self.get_att(logical, attribute))
        return str(self.ref(name))

    def _properties(self, logical: str) -> tuple[str, Mapping[str, Any]]:
        resource = self._resources[logical]
        return resource["Type"], resource.get("Properties", {})

    def ref(self, logical: str) -> str:
        if logical in self._pseudo:
            return self._pseudo[logical]
        kind, p = self._properties(logical)
        if kind == "AWS::S3::Bucket":
            return str(self.resolve(p["BucketName"]))
        if kind == "AWS::SecretsManager::Secret":
            return self._lookup("secret", p["Name"])
        if kind == "AWS::DynamoDB::Table":
            return str(p["TableName"])
        if kind == "AWS::ApiGatewayV2::Api":  # its id, made up by AWS
            return self._lookup("api", logical)
        raise AssertionError(f"no Ref for {kind} {logical}")

    def get_att(self, logical: str, attribute: str) -> str:
        kind, p = self._properties(logical)
        if (kind, attribute) == ("AWS::DynamoDB::Table", "Arn"):
            return f"arn:aws:dynamodb:{self._region}:{ACCOUNT}:table/{p['TableName']}"
        if (kind, attribute) == ("AWS::SQS::Queue", "Arn"):
            return f"arn:aws:sqs:{self._region}:{ACCOUNT}:{p['QueueName']}"
        if (kind, attribute) == ("AWS::SQS::Queue", "QueueName"):
            return str(p["QueueName"])
        if (kind, attribute) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:aws:s3:::{self.ref(logical)}"
        if (kind, attribute) == ("AWS::KMS::Key", "Arn"):
            aliases = [
                r["Properties"]["AliasName"]
                for r in self._resources.values()
                if r.get("Type") == "AWS::KMS::Alias"
                and r["Properties"]["TargetKeyId"] == {"Ref": logical}
            ]
            return self._lookup("key", aliases[0])
        raise AssertionError(f"no Fn::GetAtt {attribute} for {kind} {logical}")
