"""Snapshots of the embedded AWS: what they hold, and that a failed save never harms the last.

One stack at a time (moto's state is process-wide); each test starts its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.local import snapshot
from chalicelib.local.stack import LocalStack
from tests.localstack import running_stack, sqs


def _client(stack: LocalStack, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=stack.aws_url)


def test_restores_objects_items_messages_and_keys(tmp_path: Path) -> None:
    state = tmp_path / "state"
    objects = {"repos/a/blob.bin": bytes(range(256)) * 40, "jobs/empty": b""}
    item = {"repository_id": {"S": "local:x-1"}, "raw": {"B": b"\x00\xff"}, "n": {"N": "7"}}
    with running_stack(state, workers={}) as first:
        names = first.settings.names
        for key, data in objects.items():
            _client(first, "s3").put_object(Bucket=names.bucket, Key=key, Body=data)
        _client(first, "dynamodb").put_item(TableName=names.tables["repositories"], Item=item)
        dlq = sqs(first).get_queue_url(QueueName=names.dead_letter_queues["parse"])["QueueUrl"]
        sqs(first).send_message(QueueUrl=dlq, MessageBody='{"poison": true}')
        sealed = _client(first, "kms").encrypt(KeyId=names.token_key_alias, Plaintext=b"tok")
        secrets = _secrets(first)
    with running_stack(state, workers={}) as second:
        s3 = _client(second, "s3")
        for key, data in objects.items():
            assert s3.get_object(Bucket=names.bucket, Key=key)["Body"].read() == data
        got = _client(second, "dynamodb").get_item(
            TableName=names.tables["repositories"], Key={"repository_id": {"S": "local:x-1"}}
        )
        assert got["Item"] == item
        dlq = sqs(second).get_queue_url(QueueName=names.dead_letter_queues["parse"])["QueueUrl"]
        bodies = [m["Body"] for m in sqs(second).receive_message(QueueUrl=dlq)["Messages"]]
        assert bodies == ['{"poison": true}']
        kms = _client(second, "kms")
        assert kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"])["Plaintext"] == b"tok"
        assert _secrets(second) == secrets  # generated at the first start, kept since


def _secrets(stack: LocalStack) -> dict[str, str]:
    client = _client(stack, "secretsmanager")
    return {
        name: client.get_secret_value(SecretId=name)["SecretString"]
        for name in snapshot.Resources.of(stack.settings).secrets.values()
    }


def test_a_failed_or_interrupted_save_leaves_the_last_snapshot_current(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with running_stack(state, workers={}) as first:
        bucket = first.settings.names.bucket
    saved = first.saved
    assert saved is not None and snapshot.current_snapshot(state) == saved.path

    with running_stack(state, workers={}, save_on_stop=False) as second:
        _client(second, "s3").put_object(Bucket=bucket, Key="after", Body=b"new")
        conversations = second.settings.names.tables["conversations"]
        _client(second, "dynamodb").delete_table(TableName=conversations)
        assert second.aws is not None
        with pytest.raises(ClientError, match="ResourceNotFound"):
            snapshot.save(second.aws, state)
    assert snapshot.current_snapshot(state) == saved.path
    assert [p.name for p in (state / "snapshots").iterdir()] == [saved.path.name]
    assert json.loads((saved.path / "s3.json").read_text()) == {"index": []}

    crashed = state / "snapshots" / ".20990101T000000-000000000.partial"
    crashed.mkdir()
    (crashed / "s3.pack").write_bytes(b"half a pack")
    with running_stack(state, workers={}) as third:
        assert third.restored is not None and third.restored.path == saved.path
    assert third.saved is not None
    assert [p.name for p in (state / "snapshots").iterdir()] == [third.saved.path.name]
