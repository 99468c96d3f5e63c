"""Workers under failure: retries, the DLQ, dropped poison messages, takeover after a crash."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from chalicelib import bootstrap
from chalicelib.errors import TransientError
from chalicelib.parsers import PARSER_VERSION
from chalicelib.ports import BlobStore
from chalicelib.services.job_endings import RETRIES_EXHAUSTED
from tests.e2e.conftest import Stack
from tests.e2e.test_every_job_ends import pump_main_queues
from tests.gitrepo import init_repo

W = TypeVar("W", bound=BlobStore)
BUNDLES = f"blobs/{PARSER_VERSION}/bundles/"  # domain/bundles.py


class FlakyBlobStore:
    """The real S3 store, except that writing artifacts fails as S3 throttling would."""

    def __init__(self, inner: BlobStore, fail_prefix: str) -> None:
        self._inner = inner
        self._prefix = fail_prefix
        self.failures = 0

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        if key.startswith(self._prefix):
            self.failures += 1
            raise TransientError("SlowDown, retry later")
        return self._inner.put(key, data, if_absent=if_absent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _inject(blobs_wrapper: Callable[[BlobStore], W]) -> W:
    c = bootstrap.container()
    flaky = blobs_wrapper(c.ports.blobs)
    bootstrap.configure(c.settings, replace(c, ports=replace(c.ports, blobs=flaky)))
    return flaky


def _repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    init_repo(path, {f"m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(4)})
    return path


def test_transient_failures_are_retried_then_land_in_the_dlq(stack: Stack, tmp_path: Path) -> None:
    path = _repo(tmp_path)
    rid = stack.post("/repositories/index", {"url": str(path)}).json_body["repositoryId"]
    # Each attempt fails writing its batch's bundle, the last of its artifact writes (the
    # per-blob writes before it run concurrently: how many of those fail varies).
    flaky = _inject(lambda inner: FlakyBlobStore(inner, BUNDLES))
    pump_main_queues(stack)
    names = stack.settings.names
    # 4 files in batches of 3 -> 2 parse messages, each tried maxReceiveCount (5) times.
    assert flaky.failures == 2 * 5
    assert stack.queue_depth(names.dead_letter_queues["parse"]) == 2
    assert stack.queue_depth(names.queues["parse"]) == 0
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert status["status"] == "indexing" and status["indexedSha"] is None
    stack.pump.drain()  # the DLQ consumer ends the job
    assert stack.queue_depth(names.dead_letter_queues["parse"]) == 0
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert (status["status"], status["error"]) == ("error", RETRIES_EXHAUSTED)


def test_dead_job_is_taken_over_after_its_lease(stack: Stack, tmp_path: Path) -> None:
    from tests.e2e.conftest import with_settings

    with_settings(stack, lease_seconds=1)
    path = _repo(tmp_path)
    rid = stack.post("/repositories/index", {"url": str(path)}).json_body["repositoryId"]
    _inject(lambda inner: FlakyBlobStore(inner, "blobs/"))
    pump_main_queues(stack)  # the job dies: its parse batches end in the DLQ (not consumed)
    with_settings(stack, lease_seconds=1)  # a fresh container without the fault
    assert stack.post("/repositories/index", {"url": str(path)}).json_body["status"] == "indexing"
    time.sleep(1.2)  # let the dead job's lease expire
    stack.post("/repositories/index", {"url": str(path)})
    stack.pump.drain()
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert status["status"] == "ready", status


def test_poison_messages_are_acknowledged_not_retried(stack: Stack) -> None:
    names = stack.settings.names
    url = stack.sqs.get_queue_url(QueueName=names.queues["index"])["QueueUrl"]
    for body in ("not json", '{"type": "ParseBatch", "job_id": "j", "batch": 0}', "{}"):
        stack.sqs.send_message(QueueUrl=url, MessageBody=body)
    assert stack.pump.drain() == 3
    assert stack.queue_depth(names.queues["index"]) == 0
    assert stack.queue_depth(names.dead_letter_queues["index"]) == 0


class FailingReads:
    """The real S3 store, except that reading keys containing `needle` times out."""

    def __init__(self, inner: BlobStore, needle: str) -> None:
        self._inner = inner
        self._needle = needle

    def get(self, key: str) -> bytes:
        if self._needle in key:
            raise TransientError("RequestTimeout, retry later")
        return self._inner.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_one_failing_record_does_not_fail_its_batch(stack: Stack, tmp_path: Path) -> None:
    path = _repo(tmp_path)
    rid = stack.post("/repositories/index", {"url": str(path)}).json_body["repositoryId"]
    assert stack.pump.poll("index") == 1  # plan: 4 files in batches of 3 -> 2 parse messages
    _inject(lambda inner: FailingReads(inner, "batch-000001"))
    assert stack.pump.poll("parse") == 2  # both records arrive in one event
    parse_queue = stack.settings.names.queues["parse"]
    assert stack.queue_depth(parse_queue) == 1  # only the failed record comes back
    progress = stack.get(f"/repositories/{rid}/status").json_body["progress"]
    assert progress == {"filesProcessed": 3, "numFiles": 4, "filesEmbedded": None}
    bootstrap.configure(stack.settings)  # the fault clears
    stack.pump.drain()
    assert stack.get(f"/repositories/{rid}/status").json_body["status"] == "ready"
