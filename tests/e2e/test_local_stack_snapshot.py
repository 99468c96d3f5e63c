"""The local stack's state on disk: what it holds, that a crash in the middle of a commit never
harms the last one, that it is private, and that an older layout is taken over.

One stack at a time (moto's state is process-wide); each test starts its own."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pygit2
import pytest
from moto.dynamodb.exceptions import ResourceNotFoundException

from chalicelib.local import snapshot
from chalicelib.local.stack import LocalStack, StackOptions
from chalicelib.local.store import MANIFEST
from chalicelib.settings import Settings
from tests.gitrepo import init_repo
from tests.localstack import running_stack, sqs

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "e2e-local"  # tests.localstack's resource prefix


def _client(stack: LocalStack, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=stack.aws_url)


@contextmanager
def stack_without_durability(state: Path) -> Iterator[LocalStack]:
    """The stack with `durable=False`: its state is saved only on a clean stop."""
    options = StackOptions(
        state_dir=state,
        port=0,
        workers={},
        settings=Settings(resource_prefix=PREFIX, embedder="none"),
        durable=False,
    )
    with LocalStack(options) as stack:
        yield stack


@pytest.mark.parametrize("durable", [True, False], ids=["durable", "saved-on-stop"])
def test_restores_objects_items_messages_and_keys(tmp_path: Path, durable: bool) -> None:
    state = tmp_path / "state"
    objects = {"repos/a/blob.bin": bytes(range(256)) * 40, "jobs/empty": b""}
    item = {
        "repository_id": {"S": "local:x-1"},
        "raw": {"B": b"\x00\xff"},
        "n": {"N": "7"},
        "nested": {"M": {"bin": {"B": b"\x01"}, "list": {"L": [{"S": "a"}, {"BOOL": True}]}}},
        "tags": {"SS": ["x", "y"]},
    }
    start = running_stack(state, workers={}) if durable else stack_without_durability(state)
    with start as first:
        names = first.settings.names
        for key, data in objects.items():
            _client(first, "s3").put_object(Bucket=names.bucket, Key=key, Body=data)
        _client(first, "dynamodb").put_item(TableName=names.tables["repositories"], Item=item)
        dlq = sqs(first).get_queue_url(QueueName=names.dead_letter_queues["parse"])["QueueUrl"]
        sqs(first).send_message(QueueUrl=dlq, MessageBody='{"poison": true}')
        sealed = _client(first, "kms").encrypt(KeyId=names.token_key_alias, Plaintext=b"tok")
        secrets = _secrets(first)
    assert first.saved is not None and first.saved.objects == 2
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


# A process that commits one state, then dies between writing the next one and committing it.
_CRASH_MID_COMMIT = textwrap.dedent(
    """
    import os, sys
    import boto3
    from tests.localstack import running_stack

    with running_stack(__import__("pathlib").Path(sys.argv[1]), workers={}) as stack:
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=stack.aws_url)
        db = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=stack.aws_url)
        names, state = stack.settings.names, stack.durable_state
        state.close(final=False)  # no background commit from here: this process commits
        s3.put_object(Bucket=names.bucket, Key="kept", Body=b"committed")
        state.commit()
        s3.put_object(Bucket=names.bucket, Key="torn", Body=b"never committed" * 1000)
        s3.delete_object(Bucket=names.bucket, Key="kept")
        db.put_item(TableName=names.tables["repositories"], Item={"repository_id": {"S": "t"}})
        prepared = state.store.prepare(state.capturer.capture(state.gate).changes)
        assert prepared is not None
        os._exit(17)
    """
)


def test_a_crash_between_writing_and_committing_leaves_the_previous_state(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH_MID_COMMIT, str(state)],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert crashed.returncode == 17, crashed.stderr.decode()[-2000:]
    store = state / "aws"
    manifest = json.loads((store / MANIFEST).read_text())
    assert (store / manifest["pack"]).stat().st_size > manifest["packBytes"]  # the torn part
    assert (store / (MANIFEST + ".tmp")).exists()

    def assert_objects(stack: LocalStack, expected: dict[str, bytes]) -> None:
        s3, bucket = _client(stack, "s3"), stack.settings.names.bucket
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        got = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}
        assert got == expected

    with running_stack(state, workers={}) as second:
        assert_objects(second, {"kept": b"committed"})
        table = second.settings.names.tables["repositories"]
        assert _client(second, "dynamodb").scan(TableName=table)["Items"] == []
        _client(second, "s3").put_object(
            Bucket=second.settings.names.bucket, Key="after", Body=b"1"
        )
    with running_stack(state, workers={}) as third:  # the commit after the crash replays too
        assert_objects(third, {"kept": b"committed", "after": b"1"})


def _modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root.parent)): stat.S_IMODE(p.lstat().st_mode)
        for p in [root, *root.rglob("*")]
    }


def _loosen(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _private(modes: dict[str, int], root: Path) -> dict[str, int]:
    return {p: (0o700 if (root / p).is_dir() else 0o600) for p in modes}


def test_the_state_dir_is_private_even_after_a_restart_on_loose_modes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init_repo(tmp_path / "grove", {"walnut.py": "def crack():\n    return 1\n"})
    with running_stack(state, workers={}) as first:
        _client(first, "s3").put_object(Bucket=first.settings.names.bucket, Key="k", Body=b"1")
        pygit2.clone_repository(str(tmp_path / "grove"), str(state / "git-cache" / "a"), bare=True)
    _loosen(state)  # e.g. copied with cp -r under umask 022, or written by an older Strata
    (state / "notes.txt").write_text("a user's file")
    (state / "notes.txt").chmod(0o666)
    assert any(mode & 0o077 for mode in _modes(state).values())

    with running_stack(state, workers={}) as second:
        assert _modes(state) == _private(_modes(state), tmp_path)  # fixed on start
        # What the running stack's process creates there (libgit2's clones, commits) is private.
        _client(second, "s3").put_object(Bucket=second.settings.names.bucket, Key="j", Body=b"2")
        assert second.durable_state is not None
        second.durable_state.commit()
        pygit2.clone_repository(str(tmp_path / "grove"), str(state / "git-cache" / "b"), bare=True)
        open_to_others = {p: m for p, m in _modes(state).items() if m & 0o077}
        assert open_to_others == {}
    assert _modes(state) == _private(_modes(state), tmp_path)  # and exactly so after a stop


def test_an_older_state_dir_is_restored_once_then_replaced(tmp_path: Path) -> None:
    state = tmp_path / "state"
    old = state / "snapshots" / "20250101T000000-000000001"
    old.mkdir(parents=True)
    (state / "CURRENT").write_text(old.name + "\n")
    (old / "meta.json").write_text('{"format": 1}')
    (old / "s3.pack").write_bytes(b"hello")
    (old / "s3.json").write_text('{"index": [["old/object", 0, 5]]}')
    raw = {"__bytes__": base64.b64encode(b"\x00\xff").decode()}
    item = {"repository_id": {"S": "local:old-1"}, "raw": {"B": raw}}
    (old / "dynamodb.json").write_text(json.dumps({"repositories": [item]}))
    (old / "sqs.json").write_text(json.dumps({"index": ['{"old": true}']}))
    (old / "kms.json").write_text("{}")
    (old / "secrets.json").write_text("{}")

    for _ in range(2):  # taken over, then restored from the store it became
        with running_stack(state, workers={}) as stack:
            names = stack.settings.names
            body = _client(stack, "s3").get_object(Bucket=names.bucket, Key="old/object")["Body"]
            assert body.read() == b"hello"
            got = _client(stack, "dynamodb").get_item(
                TableName=names.tables["repositories"],
                Key={"repository_id": {"S": "local:old-1"}},
            )
            assert got["Item"]["raw"] == {"B": b"\x00\xff"}
            url = sqs(stack).get_queue_url(QueueName=names.queues["index"])["QueueUrl"]
            messages = sqs(stack).receive_message(QueueUrl=url, VisibilityTimeout=0)
            assert [m["Body"] for m in messages["Messages"]] == ['{"old": true}']
        assert not (state / "CURRENT").exists() and not (state / "snapshots").exists()
        assert (state / "aws" / MANIFEST).is_file()


def test_a_failed_final_commit_leaves_the_last_commit_current(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with running_stack(state, workers={}) as first:
        _client(first, "s3").put_object(Bucket=first.settings.names.bucket, Key="a", Body=b"1")
    manifest = (state / "aws" / MANIFEST).read_bytes()
    second = LocalStack(
        StackOptions(
            state_dir=state,
            port=0,
            workers={},
            settings=Settings(resource_prefix=PREFIX, embedder="none"),
            durable=False,
        )
    ).start()
    try:
        _client(second, "s3").put_object(Bucket=second.settings.names.bucket, Key="b", Body=b"2")
        conversations = second.settings.names.tables["conversations"]
        _client(second, "dynamodb").delete_table(TableName=conversations)
    finally:
        with pytest.raises(ResourceNotFoundException):
            second.stop()  # the last commit cannot capture a table that is gone
    assert (state / "aws" / MANIFEST).read_bytes() == manifest
    with running_stack(state, workers={}) as third:
        keys = _client(third, "s3").list_objects_v2(Bucket=third.settings.names.bucket)
        assert [o["Key"] for o in keys["Contents"]] == ["a"]
