"""The parts of a restore that go through the AWS APIs: SQS message sends, Secrets Manager
values and, for state dirs of format 1 (binary attributes as bytes), DynamoDB items. There are
few of each; the bulk (S3), what the APIs cannot show (messages in flight, key material) and
whatever a capture reads under the write gate go through moto_state. Names map logical ->
physical.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.local.embedded import EmbeddedAws

_BATCH_WRITE = 25  # DynamoDB BatchWriteItem limit
_SEND_BATCH = 10  # SQS SendMessageBatch limit


def put_items(aws: EmbeddedAws, tables: Mapping[str, str], saved: Mapping[str, Any]) -> int:
    dynamodb = aws.client("dynamodb")
    count = 0
    for logical, items in saved.items():
        table = tables.get(logical)
        if table is None:
            continue
        for start in range(0, len(items), _BATCH_WRITE):
            requests = [{"PutRequest": {"Item": i}} for i in items[start : start + _BATCH_WRITE]]
            pending: dict[str, Any] = {table: requests}
            while pending:
                pending = dynamodb.batch_write_item(RequestItems=pending).get(
                    "UnprocessedItems", {}
                )
        count += len(items)
    return count


def send_messages(
    aws: EmbeddedAws, queues: Mapping[str, str], saved: Mapping[str, list[str]]
) -> int:
    sqs = aws.sqs
    count = 0
    for logical, bodies in saved.items():
        queue = queues.get(logical)
        if queue is None or not bodies:
            continue
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        for start in range(0, len(bodies), _SEND_BATCH):
            chunk = bodies[start : start + _SEND_BATCH]
            entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
            failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
            if failed:
                raise RuntimeError(f"{len(failed)} messages were not restored to {queue}")
        count += len(bodies)
    return count


def put_secret_values(
    aws: EmbeddedAws, secrets: Mapping[str, str], saved: Mapping[str, str]
) -> None:
    wanted = {secrets[k]: v for k, v in saved.items() if k in secrets}
    if not wanted:
        return
    client = aws.client("secretsmanager")
    for name, value in wanted.items():
        client.put_secret_value(SecretId=name, SecretString=value)
