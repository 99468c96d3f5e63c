"""Each Lambda function's IAM policy, from its grants in deploy.json (least privilege).

A grant names a resource by kind and logical name (`table:jobs`, `objects:index/jobs/*`);
`resource_arns` turns it into the ARNs of the resources template.py defines, as
CloudFormation expressions, so a policy names exactly this stage's resources. Every role
also writes its own log group and X-Ray segments, and a queue consumer gets what Lambda's
event source mapping needs on its queue (the mapping polls with the function's role).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# What Lambda's SQS event source mapping does with the function's role.
EVENT_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
TRACE_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")  # no resource-level ARNs

Json = dict[str, Any]
WEBSOCKET_API = "WebsocketAPI"  # Chalice's logical id of the API Gateway WebSocket API


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def get_att(logical: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [logical, attribute]}


class Grants:
    """Resolves grant resources to CloudFormation ARNs, by the template's logical ids."""

    def __init__(
        self,
        logical_id: Callable[[str, str], str],
        table_has_indexes: Callable[[str], bool],
        model: str,
        answer_model: str = "",
    ) -> None:
        self._logical_id = logical_id  # (kind, logical name) -> logical id in the template
        self._table_has_indexes = table_has_indexes
        self._model = model
        self._answer_model = answer_model

    def resource_arns(self, resource: str) -> list[Any]:
        kind, _, name = resource.partition(":")
        if kind == "table":
            table = self._logical_id("table", name)
            arns: list[Any] = [get_att(table, "Arn")]
            if self._table_has_indexes(name):
                arns.append(sub(f"${{{table}.Arn}}/index/*"))
            return arns
        if kind == "bucket":
            return [get_att(self._logical_id("bucket", name), "Arn")]
        if kind == "objects":
            bucket, _, pattern = name.partition("/")
            return [sub(f"${{{self._logical_id('bucket', bucket)}.Arn}}/{pattern}")]
        if kind in ("queue", "key"):
            return [get_att(self._logical_id(kind, name), "Arn")]
        if kind == "secret":
            return [{"Ref": self._logical_id("secret", name)}]
        if kind == "connections" and name == "websocket":
            # Posting to (and closing) the WebSocket API's connections, any stage (ADR 24).
            api = "${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
            return [sub(f"arn:{api}:${{{WEBSOCKET_API}}}/*/*/@connections/*")]
        if kind == "model" and name == "embedding":
            return [
                sub(
                    f"arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}::foundation-model/{self._model}"
                )
            ]
        if kind == "model" and name == "answer" and self._answer_model:
            return answer_model_arns(self._answer_model)
        raise ValueError(f"unknown grant resource {resource!r}")


# Cross-region inference profile ids start with a geography: `us.anthropic.claude-…`.
INFERENCE_PROFILE_PREFIXES = ("us", "us-gov", "eu", "apac", "jp", "au", "ca", "global")


def answer_model_arns(model: str) -> list[Any]:
    """What Converse on `model` needs: the foundation model in this region, or for an
    inference profile the profile and the model it routes to, in whichever region serves it."""
    prefix, _, base = model.partition(".")
    if prefix in INFERENCE_PROFILE_PREFIXES and base:
        return [
            sub(
                "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:"
                f"inference-profile/{model}"
            ),
            sub(f"arn:${{AWS::Partition}}:bedrock:*::foundation-model/{base}"),
        ]
    return [sub(f"arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}::foundation-model/{model}")]


def statement_id(resource: str) -> str:
    """`objects:index/jobs/*` -> `ObjectsIndexJobs` (IAM Sids are alphanumeric)."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", resource) if part)


def policy_document(
    grants: Mapping[str, Sequence[str]],
    resolver: Grants,
    *,
    function_logical_id: str,
    consumes: str | None,
) -> Json:
    """The role policy of one function: its grants, its log group, X-Ray, its queue."""
    statements: list[Json] = [
        {
            "Sid": statement_id(resource),
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": resolver.resource_arns(resource),
        }
        for resource, actions in sorted(grants.items())
    ]
    if consumes is not None:
        statements.append(
            {
                "Sid": "EventSourceMapping",
                "Effect": "Allow",
                "Action": list(EVENT_SOURCE_ACTIONS),
                "Resource": resolver.resource_arns(f"queue:{consumes}"),
            }
        )
    log_group = (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        f"/aws/lambda/${{AWS::StackName}}-{function_logical_id}-*"
    )
    statements.append(
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            "Resource": [sub(log_group), sub(log_group + ":*")],
        }
    )
    statements.append(
        {"Sid": "Tracing", "Effect": "Allow", "Action": list(TRACE_ACTIONS), "Resource": "*"}
    )
    return {"Version": "2012-10-17", "Statement": statements}
