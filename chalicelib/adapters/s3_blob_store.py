"""S3BlobStore: immutable objects in one bucket.

AWS resources: the index bucket. IAM: s3:GetObject, s3:PutObject, s3:ListBucket,
s3:DeleteObject (staging cleanup under jobs/ only).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import error_code, translate
from chalicelib.errors import NotFound


class S3BlobStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, **extra)
        except ClientError as exc:
            if if_absent and error_code(exc) in {
                "PreconditionFailed",
                "ConditionalRequestConflict",
            }:
                return False
            raise translate(exc, f"put {key}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"put {key}") from exc
        return True

    def get(self, key: str) -> bytes:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
            data: bytes = body.read()
            return data
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"get {key}") from exc

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            err = translate(exc, f"head {key}")
            if isinstance(err, NotFound):
                return False
            raise err from exc
        return True

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix
            )
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys})
                    deleted += len(keys)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"delete {prefix}*") from exc
        return deleted
