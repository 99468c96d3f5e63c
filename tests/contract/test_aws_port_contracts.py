"""BlobStore, WorkQueue, TokenVault and SecretStore: the same assertions on the fakes and on
moto."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.kms_token_vault import KmsTokenVault
from chalicelib.adapters.s3_blob_store import S3BlobStore
from chalicelib.adapters.secretsmanager_secret_store import SecretsManagerSecretStore
from chalicelib.adapters.sqs_work_queue import SqsWorkQueue
from chalicelib.domain.messages import IndexRepository, ParseBatch, decode
from chalicelib.errors import NotFound
from chalicelib.local.provision import provision
from chalicelib.ports import SecretStore
from chalicelib.settings import Settings
from tests.fakes.aws import FakeBlobStore, FakeTokenVault, FakeWorkQueue
from tests.fakes.stores import FakeSecretStore

SETTINGS = Settings(resource_prefix="ports")


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        provision(SETTINGS)
        yield {
            s: boto3.client(s, region_name=SETTINGS.region)
            for s in ("s3", "sqs", "kms", "secretsmanager")
        }


@pytest.fixture(params=["fake", "s3"])
def blobs(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeBlobStore()
    aws = request.getfixturevalue("aws")
    store = S3BlobStore(aws["s3"], SETTINGS.names.bucket)
    store.delete_prefix("")
    return store


def test_put_get_round_trips_bytes(blobs: Any) -> None:
    assert blobs.put("a/b", b"\x00\xffdata") is True
    assert blobs.get("a/b") == b"\x00\xffdata"
    assert blobs.exists("a/b") and not blobs.exists("a/c")


def test_if_absent_never_overwrites(blobs: Any) -> None:
    assert blobs.put("k", b"first", if_absent=True) is True
    assert blobs.put("k", b"second", if_absent=True) is False
    assert blobs.get("k") == b"first"
    assert blobs.put("k", b"third") is True  # an unconditional put replaces
    assert blobs.get("k") == b"third"


def test_missing_object_is_not_found(blobs: Any) -> None:
    with pytest.raises(NotFound, match="not found"):
        blobs.get("nope")


def test_delete_prefix_removes_only_that_prefix(blobs: Any) -> None:
    for key in ("jobs/1/a", "jobs/1/b", "jobs/10/a", "repos/x"):
        blobs.put(key, b"x")
    assert blobs.delete_prefix("jobs/1/") == 2
    assert not blobs.exists("jobs/1/a") and blobs.exists("jobs/10/a") and blobs.exists("repos/x")


class SqsReader:
    """Reads back what SqsWorkQueue sent, for the contract's assertions."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs

    def drain(self) -> list[Any]:
        out = []
        for name in SETTINGS.names.queues.values():
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            while True:
                got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                if not got.get("Messages"):
                    break
                for m in got["Messages"]:
                    out.append((name.rsplit("-", 1)[-1], decode(m["Body"])))
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out


@pytest.fixture(params=["fake", "sqs"])
def queue_and_reader(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    if request.param == "fake":
        fake = FakeWorkQueue()

        def read() -> list[Any]:
            msgs = [(m.queue, m) for m in fake.pending]
            fake.pending.clear()
            return msgs

        return fake, read
    aws = request.getfixturevalue("aws")
    reader = SqsReader(aws["sqs"])
    reader.drain()
    return SqsWorkQueue(aws["sqs"], SETTINGS.names.queues), reader.drain


def test_messages_reach_their_own_queue(queue_and_reader: tuple[Any, Any]) -> None:
    queue, read = queue_and_reader
    queue.send(IndexRepository("github:a:b"))
    queue.send_many([ParseBatch("job", n) for n in range(12)])  # more than one SQS batch
    got = read()
    assert sorted((q, type(m).__name__) for q, m in got).count(("parse", "ParseBatch")) == 12
    assert ("index", IndexRepository("github:a:b")) in got
    assert {m.batch for q, m in got if q == "parse"} == set(range(12))


@pytest.fixture(params=["fake", "kms"])
def vault(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeTokenVault()
    aws = request.getfixturevalue("aws")
    return KmsTokenVault(aws["kms"], SETTINGS.names.token_key_alias)


def test_sealed_tokens_open_and_never_show_the_token(vault: Any) -> None:
    sealed = vault.seal("ghp_secret123")
    assert "ghp_secret123" not in sealed and "ghp_secret123" not in json.dumps(sealed)
    assert vault.open(sealed) == "ghp_secret123"


# A secret store and a way to set a secret's value (an operator's rotation).
Secrets = tuple[SecretStore, Callable[[str, str], None]]


@pytest.fixture(params=["fake", "secretsmanager"])
def secrets(request: pytest.FixtureRequest) -> Secrets:
    if request.param == "fake":
        fake = FakeSecretStore()
        return fake, fake.secrets.__setitem__
    client = request.getfixturevalue("aws")["secretsmanager"]

    def put(name: str, value: str) -> None:
        try:
            client.put_secret_value(SecretId=name, SecretString=value)
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=name, SecretString=value)

    return SecretsManagerSecretStore(client), put


def _name() -> str:
    return f"ports/contract/{uuid.uuid4().hex}"  # one moto serves the module: a fresh name


def test_a_secret_reads_as_the_string_stored(secrets: Secrets) -> None:
    store, put = secrets
    name = _name()
    value = json.dumps({"default": "s3cret", "note": "ünïcode"}, ensure_ascii=False)
    put(name, value)

    assert store.read(name) == value


def test_a_missing_secret_is_not_found_by_its_name(secrets: Secrets) -> None:
    store, _ = secrets
    name = _name()

    with pytest.raises(NotFound, match=f"^read secret {name}: not found$"):
        store.read(name)


def test_an_updated_secret_reads_its_new_value(secrets: Secrets) -> None:
    store, put = secrets
    name = _name()
    put(name, "first")
    assert store.read(name) == "first"

    put(name, "second")  # a rotation: the store itself never caches (CachedSecret does)

    assert store.read(name) == "second"
