"""What each Lambda function asks of AWS: every botocore call made while a handler runs, and
the IAM (action, resource ARN) pairs each call needs. tests/e2e/test_iam_policies.py holds
them against the policies infra/ generates for each function.

A call is attributed to the function whose handler is running (`acting_as`), whichever thread
makes it, so a handler's thread pools are counted too. Calls made by the test itself (setup,
assertions, the pump's receive and delete, which Lambda's event source mapping makes in
production) run outside `acting_as` and are not recorded.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.client import BaseClient

ACCOUNT = "123456789012"  # moto's default account


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name: dynamodb, s3, sqs, kms, secretsmanager, ...
    operation: str  # botocore's operation name: GetItem, PutObject, SendMessageBatch, ...
    params: Mapping[str, Any]


class CallRecorder:
    def __init__(self) -> None:
        self.calls: dict[str, list[Call]] = defaultdict(list)
        self._lock = threading.Lock()
        self._function: str | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Spy on every botocore client (boto3's and pynamodb's alike); calls go through."""
        original = BaseClient._make_api_call
        recorder = self

        def spy(client: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
            recorder.record(client.meta.service_model.service_name, operation_name, api_params)
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", spy)

    def record(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        with self._lock:
            if self._function is not None:
                self.calls[self._function].append(Call(service, operation, dict(params)))

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        with self._lock:
            assert self._function is None, f"{function} inside {self._function}"
            self._function = function
        try:
            yield
        finally:
            with self._lock:
                self._function = None

    def wrap(self, function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with self.acting_as(function):
                return handler(*args, **kwargs)

        return run


@dataclass(frozen=True)
class Arns:
    """Physical ARNs of the resources calls name (looked up once the calls are made)."""

    region: str
    keys: Mapping[str, str]  # key id or alias -> key ARN
    secrets: Mapping[str, str]  # secret name -> secret ARN
    default_key: str  # the key a Decrypt without KeyId is taken to use (there is one)
    websocket_api: str = "websocketapi"  # the WebSocket API's id (ADR 24)
    websocket_stage: str = "api"

    def table(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"

    def queue_from_url(self, url: str) -> str:
        return f"arn:aws:sqs:{self.region}:{ACCOUNT}:{url.rstrip('/').rsplit('/', 1)[-1]}"

    def queue(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{ACCOUNT}:{name}"


_TRANSACT_ITEM_ACTIONS = {
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
}
_SQS_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def _dynamodb(call: Call, arns: Arns) -> list[tuple[str, str]]:
    p = call.params
    if call.operation == "TransactWriteItems":
        return [
            (_TRANSACT_ITEM_ACTIONS[kind], arns.table(body["TableName"]))
            for item in p["TransactItems"]
            for kind, body in item.items()
        ]
    if call.operation == "TransactGetItems":
        return [("dynamodb:GetItem", arns.table(i["Get"]["TableName"])) for i in p["TransactItems"]]
    if call.operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{call.operation}", arns.table(t)) for t in p["RequestItems"]]
    resource = arns.table(p["TableName"])
    if p.get("IndexName"):
        resource += f"/index/{p['IndexName']}"
    return [(f"dynamodb:{call.operation}", resource)]


def _s3(call: Call, arns: Arns) -> list[tuple[str, str]]:
    p = call.params
    bucket = f"arn:aws:s3:::{p['Bucket']}"
    if call.operation in ("GetObject", "HeadObject"):
        # Without s3:ListBucket a missing key answers 403, not 404: the store's NotFound (and
        # so `exists`) relies on it.
        return [("s3:GetObject", f"{bucket}/{p['Key']}"), ("s3:ListBucket", bucket)]
    if call.operation == "PutObject":
        return [("s3:PutObject", f"{bucket}/{p['Key']}")]
    if call.operation in ("ListObjectsV2", "ListObjects"):
        return [("s3:ListBucket", bucket)]
    if call.operation == "DeleteObjects":
        return [("s3:DeleteObject", f"{bucket}/{o['Key']}") for o in p["Delete"]["Objects"]]
    if call.operation == "DeleteObject":
        return [("s3:DeleteObject", f"{bucket}/{p['Key']}")]
    raise AssertionError(f"no IAM mapping for s3 {call.operation}")


def _sqs(call: Call, arns: Arns) -> list[tuple[str, str]]:
    p = call.params
    action = _SQS_ACTIONS.get(call.operation, f"sqs:{call.operation}")
    if call.operation == "GetQueueUrl":
        return [(action, arns.queue(p["QueueName"]))]
    return [(action, arns.queue_from_url(p["QueueUrl"]))]


def _kms(call: Call, arns: Arns) -> list[tuple[str, str]]:
    key = call.params.get("KeyId")
    return [(f"kms:{call.operation}", arns.keys[key] if key else arns.default_key)]


def needs(call: Call, arns: Arns) -> list[tuple[str, str]]:
    """The IAM (action, resource ARN) pairs AWS checks for one call."""
    if call.service == "dynamodb":
        return _dynamodb(call, arns)
    if call.service == "s3":
        return _s3(call, arns)
    if call.service == "sqs":
        return _sqs(call, arns)
    if call.service == "kms":
        return _kms(call, arns)
    if call.service == "secretsmanager":
        secret = call.params["SecretId"]
        return [(f"secretsmanager:{call.operation}", arns.secrets.get(secret, secret))]
    if call.service == "apigatewaymanagementapi":
        # Posting to, closing or reading a connection: one action for all (ADR 24).
        method = {"PostToConnection": "POST", "DeleteConnection": "DELETE"}
        connections = (
            f"arn:aws:execute-api:{arns.region}:{ACCOUNT}:{arns.websocket_api}/"
            f"{arns.websocket_stage}/{method.get(call.operation, 'GET')}/@connections/"
        )
        return [("execute-api:ManageConnections", connections + call.params["ConnectionId"])]
    if call.service == "bedrock-runtime":
        model = call.params["modelId"]
        # Converse is authorised by InvokeModel (the streaming one by its streaming action).
        action = {"Converse": "InvokeModel", "ConverseStream": "InvokeModelWithResponseStream"}
        return [
            (
                f"bedrock:{action.get(call.operation, call.operation)}",
                f"arn:aws:bedrock:{arns.region}::foundation-model/{model}",
            )
        ]
    raise AssertionError(f"no IAM mapping for {call.service} {call.operation}")


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcards: `*` any run of characters (`/` included), `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statement_allows(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    return any(_matches(a, action, ignore_case=True) for a in _listed(statement["Action"])) and any(
        _matches(str(r), resource) for r in _listed(statement["Resource"])
    )


def allowed(policy: Mapping[str, Any], action: str, resource: str) -> bool:
    """Whether an identity policy (no conditions) allows `action` on `resource`."""
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and statement_allows(s, action, resource) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and statement_allows(s, action, resource) for s in statements)
