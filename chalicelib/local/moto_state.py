"""Direct access to the embedded moto server's in-process backends, for snapshots only.

Why not the AWS APIs: measured on moto 5.2.5 (2 cores), PutObject through the server costs
7-14 ms per small object, against ~0.06 ms through the S3 backend; an index of a few hundred
MB holds ~100k small blob artifacts, so restoring through the API would take minutes. SQS's
API cannot see messages that are in flight (received, not yet deleted), and KMS's cannot
export key material. Everything moto-internal that the snapshot touches is in this module.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition


@dataclass(frozen=True)
class MotoState:
    """The backends of one account and region of the in-process moto."""

    account_id: str
    region: str

    def _s3(self) -> Any:
        return s3_backends[self.account_id][get_partition(self.region)]

    def s3_objects(self, bucket: str) -> Iterator[tuple[str, bytes]]:
        """Every current object of `bucket` as (key, bytes), in key order."""
        keys = self._s3().get_bucket(bucket).keys
        for name, key in sorted(keys.items()):
            if hasattr(key, "value"):  # not a delete marker
                yield name, key.value

    def put_s3_object(self, bucket: str, key: str, data: bytes) -> None:
        self._s3().put_object(bucket, key, data, disable_notification=True)

    def queue_bodies(self, queue_name: str) -> list[str]:
        """The bodies of every message in the queue: visible, delayed or in flight."""
        queue = sqs_backends[self.account_id][self.region].get_queue(queue_name)
        with queue._messages_lock:
            return [m.body for m in queue._messages]

    def kms_keys(self) -> dict[str, bytes]:
        """Key id -> key material of every symmetric key."""
        keys = kms_backends[self.account_id][self.region].keys
        return {
            key_id: bytes(key.key_material)
            for key_id, key in keys.items()
            if key.key_spec == "SYMMETRIC_DEFAULT"
        }

    def restore_kms_keys(self, saved: dict[str, bytes]) -> int:
        """Make ciphertexts of the saved keys decryptable again; returns how many came back.

        Provisioning made a fresh key under the alias; each saved key comes back as a twin of
        it with the saved id and material (moto finds the key by the id in the ciphertext)."""
        keys = kms_backends[self.account_id][self.region].keys
        template = next((k for k in keys.values() if k.key_spec == "SYMMETRIC_DEFAULT"), None)
        if template is None:
            return 0
        restored = 0
        for key_id, material in saved.items():
            if key_id in keys:
                continue
            twin = copy.copy(template)
            twin.id = key_id
            twin.arn = template.arn.replace(template.id, key_id)
            twin.key_material = material
            twin.grants = {}
            twin.aliases = {}
            keys[key_id] = twin
            restored += 1
        return restored
