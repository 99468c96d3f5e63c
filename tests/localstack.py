"""The local stack for end-to-end tests: started in this process on free ports with a state
directory under tmp_path, always stopped; plain-HTTP helpers and bounded waits. Every stack's
local admin key is ADMIN_KEY (as `STRATA_API_KEY=... strata serve` would make it), and
`http()` sends it unless told otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from chalicelib.client.transport import exchange
from chalicelib.local.admin_key import provide_admin_key
from chalicelib.local.stack import DEFAULT_WORKERS, ROOT, LocalStack, StackOptions
from chalicelib.settings import Settings

T = TypeVar("T")

# A short visibility timeout makes a retry (and the DLQ after five receives) take seconds.
VISIBILITY_SECONDS = 2
ADMIN_KEY = "strata_localstack01_" + "L" * 43


@contextmanager
def running_stack(
    state_dir: Path,
    *,
    workers: dict[str, int] | None = None,
    visibility_timeout: int = VISIBILITY_SECONDS,
    save_on_stop: bool = True,
    embedder: str = "none",
    processes: dict[str, int] | None = None,
) -> Iterator[LocalStack]:
    """`processes`: queues whose handlers run in worker processes (None: the stack's default,
    every core for parse; {}: all in threads, which starts in a fraction of the time)."""
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            mp.setenv(key, "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        options = StackOptions(
            state_dir=state_dir,
            port=0,
            visibility_timeout=visibility_timeout,
            workers=dict(DEFAULT_WORKERS) if workers is None else workers,
            settings=Settings(
                resource_prefix="e2e-local",
                parse_batch_files=3,
                embedder=embedder,
                # Where the tests make their repositories, and the checkout (the demo's).
                local_roots=(str(state_dir.parent), str(ROOT)),
                rate_burst=100_000,  # polling loops; the limit has tests of its own
            ),
            save_on_stop=save_on_stop,
        )
        if processes is not None:
            options = replace(options, processes=processes)
        stack = LocalStack(options).start()
        try:
            provide_admin_key(state_dir, ADMIN_KEY)
            yield stack
        finally:
            stack.stop()


def http(
    base_url: str, method: str, path: str, body: object = None, key: str | None = ADMIN_KEY
) -> tuple[int, Any]:
    return exchange(base_url, method, path, body, timeout=30, api_key=key)


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `check` every 0.1 s until it returns a value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def status_of(stack: LocalStack, rid: str) -> dict[str, Any]:
    code, body = http(stack.api_url, "GET", f"/repositories/{rid}/status")
    assert code == 200, body
    result: dict[str, Any] = body
    return result


def wait_until_indexed(stack: LocalStack, rid: str, timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        status = status_of(stack, rid)
        return status if status["status"] in ("ready", "error") else None

    return wait_until(finished, timeout, f"{rid} to finish indexing")


def sqs(stack: LocalStack) -> Any:
    return boto3.client("sqs", region_name="us-east-1", endpoint_url=stack.aws_url)


def queue_messages(stack: LocalStack, physical_name: str) -> int:
    """Messages in a queue, visible or in flight."""
    client = sqs(stack)
    url = client.get_queue_url(QueueName=physical_name)["QueueUrl"]
    attrs = client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )
