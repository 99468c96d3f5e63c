"""The local pump of a queue that yields to another (the stack's embed queue yields to parse):
it receives nothing while the other queue holds messages, visible or in flight, and takes a
batch anyway once it has yielded for `MAX_YIELD_SECONDS`."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest

from chalicelib.local import pump as pump_module
from chalicelib.local.pump import Route, WorkerPump
from tests.localstack import wait_until

REGION = "us-east-1"


@pytest.fixture
def sqs(aws_env: None) -> Any:
    return boto3.client("sqs", region_name=REGION)


def route(sqs: Any, name: str, handled: list[str], yields_to: str | None = None) -> Route:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]

    def handler(event: dict[str, Any], context: Any) -> None:
        handled.extend(r["body"] for r in event["Records"])

    return Route(url, arn["QueueArn"], handler, f"{name}_worker", yields_to=yields_to)


@pytest.fixture
def pumped(sqs: Any) -> tuple[WorkerPump, list[str]]:
    handled: list[str] = []
    routes = {
        "parse": route(sqs, "parse", handled),
        "embed": route(sqs, "embed", handled, yields_to="parse"),
    }
    return WorkerPump(sqs, routes, REGION), handled


def start(pump: WorkerPump) -> threading.Thread:
    stop = threading.Event()
    thread = threading.Thread(target=pump.run_forever, args=(stop, "embed", 0), daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread


def send(sqs: Any, pump: WorkerPump, queue: str, body: str) -> None:
    sqs.send_message(QueueUrl=pump.routes[queue].queue_url, MessageBody=body)


def test_waits_while_the_queue_it_yields_to_holds_messages(
    sqs: Any, pumped: tuple[WorkerPump, list[str]]
) -> None:
    pump, handled = pumped
    send(sqs, pump, "parse", "parse-1")
    send(sqs, pump, "embed", "embed-1")
    thread = start(pump)
    try:
        # A parse message waiting, then one in flight: no embed batch is taken meanwhile.
        threading.Event().wait(1.0)
        assert handled == []
        parse_url = pump.routes["parse"].queue_url
        received = sqs.receive_message(QueueUrl=parse_url, VisibilityTimeout=60)["Messages"]
        threading.Event().wait(1.0)
        assert handled == []
        # Parsing done: the embed message is handled.
        sqs.delete_message(QueueUrl=parse_url, ReceiptHandle=received[0]["ReceiptHandle"])
        wait_until(lambda: handled or None, 10, "the embed message")
        assert handled == ["embed-1"]
    finally:
        thread.stop.set()  # type: ignore[attr-defined]
        thread.join(5)


def test_takes_a_batch_after_yielding_for_the_longest_wait(
    sqs: Any, pumped: tuple[WorkerPump, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pump_module, "MAX_YIELD_SECONDS", 0.5)
    pump, handled = pumped
    send(sqs, pump, "parse", "parse-1")  # never consumed: parsing looks busy throughout
    send(sqs, pump, "embed", "embed-1")
    thread = start(pump)
    try:
        wait_until(lambda: handled or None, 10, "the embed message despite a busy parse queue")
        assert handled == ["embed-1"]
    finally:
        thread.stop.set()  # type: ignore[attr-defined]
        thread.join(5)
