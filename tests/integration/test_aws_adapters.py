"""Adapter-specific behaviour of the S3 and SQS adapters: error translation at the boundary."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from chalicelib.adapters.s3_blob_store import S3BlobStore
from chalicelib.adapters.sqs_work_queue import SqsWorkQueue
from chalicelib.domain.messages import IndexRepository
from chalicelib.errors import NotFound, PermanentError, TransientError


def test_a_missing_bucket_is_a_strata_error_not_a_client_error() -> None:
    with mock_aws():
        store = S3BlobStore(boto3.client("s3", region_name="us-east-1"), "no-such-bucket")
        with pytest.raises(NotFound):
            store.get("k")
        with pytest.raises((NotFound, PermanentError)):
            store.put("k", b"x")


def test_a_missing_queue_is_a_strata_error() -> None:
    with mock_aws():
        queue = SqsWorkQueue(boto3.client("sqs", region_name="us-east-1"), {"index": "missing"})
        with pytest.raises(NotFound):
            queue.send(IndexRepository("github:a:b"))


def test_an_unreachable_endpoint_is_transient() -> None:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(connect_timeout=0.2, read_timeout=0.2, retries={"max_attempts": 0}),
    )
    with pytest.raises(TransientError):
        S3BlobStore(client, "bucket-x").get("k")
