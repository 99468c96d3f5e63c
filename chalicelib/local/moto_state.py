"""Direct access to the embedded moto server's in-process backends, for the durable state only.

Why not the AWS APIs: measured on moto 5.2.5 (2 cores), PutObject through the server costs
7-14 ms per small object, against ~0.06 ms through the S3 backend; an index of a few hundred
MB holds ~100k small blob artifacts, so restoring through the API would take minutes. SQS's
API cannot see messages that are in flight (received, not yet deleted), and KMS's cannot
export key material. A capture also runs while the write gate is held (gate.py), where an
API call would wait for the gate itself. Everything moto-internal that the durable state
touches is in this module.

DynamoDB items travel in the wire format (`{"S": ...}`, binary as base64 text), which is
how moto's server stores what it receives: captured and put back through the backend, an
item is stored exactly as it was.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.kms.models import kms_backends
from moto.s3.models import FakeDeleteMarker, s3_backends
from moto.s3.utils import _VersionedKeyStore
from moto.secretsmanager.models import secretsmanager_backends
from moto.sqs.models import sqs_backends
from moto.utilities.utils import get_partition

ObjectHandle = Any  # moto's FakeKey: a new one for every put of a key


@dataclass(frozen=True)
class MotoState:
    """The backends of one account and region of the in-process moto."""

    account_id: str
    region: str

    def _s3(self) -> Any:
        return s3_backends[self.account_id][get_partition(self.region)]

    def s3_objects(self, bucket: str) -> Iterator[tuple[str, bytes]]:
        """Every current object of `bucket` as (key, bytes), in key order."""
        handles = self.s3_handles(bucket)
        for name in sorted(handles):
            yield name, handles[name].value

    def s3_handles(self, bucket: str) -> dict[str, ObjectHandle]:
        """Key -> the current object (not a delete marker). A put replaces the handle, so
        comparing handles by identity tells what changed since an earlier call."""
        keys = self._s3().get_bucket(bucket).keys
        handles = {}
        for name, versions in dict.items(keys):  # the raw lists: no copy per key
            # Not hasattr(..., "value"): that property copies the object's bytes.
            if versions and not isinstance(versions[-1], FakeDeleteMarker):
                handles[name] = versions[-1]
        return handles

    def s3_handle(self, bucket: str, key: str) -> ObjectHandle | None:
        versions = dict.get(self._s3().get_bucket(bucket).keys, key)
        if versions and not isinstance(versions[-1], FakeDeleteMarker):
            return versions[-1]
        return None

    def take_s3_changes(self, bucket: str) -> set[str]:
        """The keys of `bucket` put or deleted since the last call (all keys the first time).

        moto changes a bucket's keys through three methods of its key store (setlist for a
        put, item assignment for a delete marker, pop for a delete); the store is given a
        subclass that notes the key in each, so a capture costs what changed, not the
        bucket's size (~1 us per object: 50 ms per capture at 50k objects otherwise)."""
        keys = self._s3().get_bucket(bucket).keys
        if not isinstance(keys, _TrackedKeyStore):
            keys.__class__ = _TrackedKeyStore
            keys.changed = set(dict.keys(keys))
        changed: set[str] = keys.changed
        keys.changed = set()
        return changed

    @staticmethod
    def s3_bytes(handle: ObjectHandle) -> bytes:
        data: bytes = handle.value
        return data

    def put_s3_object(self, bucket: str, key: str, data: bytes) -> None:
        self._s3().put_object(bucket, key, data, disable_notification=True)

    def dynamodb_items(self, table: str) -> list[dict[str, Any]]:
        """Every item of `table` in the wire format."""
        backend = dynamodb_backends[self.account_id][self.region]
        return [
            {name: _wire(value) for name, value in item.attrs.items()}
            for item in backend.get_table(table).all_items()
        ]

    def put_dynamodb_items(self, table: str, items: list[dict[str, Any]]) -> int:
        backend = dynamodb_backends[self.account_id][self.region]
        for item in items:
            backend.put_item(table, item)
        return len(items)

    def queue_messages(self, queue_name: str) -> list[tuple[str, float]]:
        """Every message in the queue, visible, delayed or in flight, as (body, the epoch ms
        until which it stays hidden)."""
        queue = sqs_backends[self.account_id][self.region].get_queue(queue_name)
        with queue._messages_lock:
            return [(m.body, max(m.visible_at, m.delayed_until)) for m in queue._messages]

    def put_queue_messages(self, queue_name: str, messages: list[tuple[str, float]]) -> int:
        """Send each message again, hidden until the same time as before: one that was being
        worked on comes back when its visibility timeout ends, as SQS would redeliver it."""
        backend = sqs_backends[self.account_id][self.region]
        for body, hidden_until in messages:
            message = backend.send_message(queue_name, body)
            message.visible_at = max(message.visible_at, hidden_until)
        return len(messages)

    def secret_strings(self, names: Mapping[str, str]) -> dict[str, str]:
        """Logical -> the current value of each secret (physical name) that has one."""
        backend = secretsmanager_backends[self.account_id][self.region]
        values = {}
        for logical, name in names.items():
            secret = backend.secrets.get(name)
            version_id = secret.default_version_id if secret else None
            version = secret.versions.get(version_id) if secret and version_id else None
            if version and "secret_string" in version:
                values[logical] = version["secret_string"]
        return values

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


class _TrackedKeyStore(_VersionedKeyStore):
    changed: set[str]

    def __setitem__(self, key: str, value: Any) -> Any:
        self.changed.add(key)
        return super().__setitem__(key, value)

    def setlist(self, key: Any, list_: Any) -> Any:
        self.changed.add(key)
        return super().setlist(key, list_)

    def pop(self, key: str) -> None:  # type: ignore[override]
        self.changed.add(key)
        super().pop(key)


def _wire(value: DynamoType) -> dict[str, Any]:
    """A stored attribute value in the wire format, nested maps and lists included."""
    inner = value.value
    if isinstance(inner, dict):
        return {value.type: {k: _wire(v) for k, v in inner.items()}}
    if isinstance(inner, list):
        return {value.type: [_wire(v) if isinstance(v, DynamoType) else v for v in inner]}
    if isinstance(inner, bytes):
        return {value.type: base64.b64encode(inner).decode()}
    return {value.type: inner}
