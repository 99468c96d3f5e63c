"""The worker pump: what Lambda's SQS event source mapping does, on the embedded AWS.

It receives from real (moto) queues, builds genuine Lambda SQS events (batches, distinct
message ids, attributes, receive counts), invokes the same handlers Lambda would, deletes
the records that succeeded and leaves failed ones to reappear after their visibility
timeout, so SQS itself moves them to the DLQ after maxReceiveCount.

Each route carries its function's timeout (the Lambda context's deadline). A pump running
under a stop event reports no time left once the event is set, so a long handler winds down
the way it would near Lambda's deadline (the index worker re-enqueues the rest of its work).

The durable local stack hands the pump two more things (durability.py, gate.py):
`before_ack`, called after a handler succeeded and before its records are deleted, which
returns once the handler's effects are on disk (if it raises, nothing is deleted and SQS
redelivers); and `sends`, a signal of messages sent, on which an idle pump sleeps between
polls that do not wait (a long poll would hold the write gate for its whole wait).

A route may yield to another queue (`Route.yields_to`): while that queue holds messages,
visible or in flight, its pump receives nothing, for at most `MAX_YIELD_SECONDS` at a time
(then it takes one batch, so it is never starved). Lambda gives each function its own
concurrency; a laptop has a few cores for all of them, and the local stack spends them on
parsing first, so a repository is searchable sooner and its vectors follow (issue 16).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_YIELD_SECONDS = 20.0
YIELD_CHECK_SECONDS = 0.2

Handler = Callable[[dict[str, Any], Any], Any]


class StopSignal(Protocol):
    """A threading.Event, or a multiprocessing one in a worker process (process_pool.py)."""

    def is_set(self) -> bool: ...


class SendSignal(Protocol):
    @property
    def sends(self) -> int: ...

    def wait_for_send(self, seen: int, timeout: float) -> None: ...


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: float = 900.0
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    stop: StopSignal | None = None
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if self.stop is not None and self.stop.is_set():
            return 0
        return int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000)


@dataclass(frozen=True)
class Route:
    queue_url: str
    queue_arn: str
    handler: Handler
    function_name: str
    batch_size: int = 1
    retry_delay_seconds: int | None = None
    timeout_seconds: float = 900.0
    yields_to: str | None = None  # a queue whose messages go first (see the module doc)


def sqs_event(messages: list[dict[str, Any]], route: Route, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": route.queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class WorkerPump:
    def __init__(
        self,
        sqs: Any,
        routes: Mapping[str, Route],
        region: str,
        *,
        before_ack: Callable[[], None] | None = None,
        sends: SendSignal | None = None,
    ) -> None:
        self._sqs = sqs
        self._routes = dict(routes)
        self._region = region
        self._before_ack = before_ack
        self._sends = sends

    @property
    def routes(self) -> Mapping[str, Route]:
        return self._routes

    def poll(self, name: str, wait_seconds: int = 0, stop: threading.Event | None = None) -> int:
        """Receive one batch from a queue and run it; returns how many records it carried."""
        route = self._routes[name]
        resp = self._sqs.receive_message(
            QueueUrl=route.queue_url,
            MaxNumberOfMessages=route.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages", [])
        if messages:
            self._run(route, messages, stop)
        return len(messages)

    def _run(
        self, route: Route, messages: list[dict[str, Any]], stop: threading.Event | None
    ) -> None:
        event = sqs_event(messages, route, self._region)
        context = LambdaContext(route.function_name, route.timeout_seconds, stop=stop)
        try:
            result = route.handler(event, context)
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("%s failed on a whole batch", route.function_name)
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done and not self._made_durable(route):
            return
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=route.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        if route.retry_delay_seconds is not None:
            for m in messages:
                if m["MessageId"] in failed:
                    self._sqs.change_message_visibility(
                        QueueUrl=route.queue_url,
                        ReceiptHandle=m["ReceiptHandle"],
                        VisibilityTimeout=route.retry_delay_seconds,
                    )

    def _made_durable(self, route: Route) -> bool:
        if self._before_ack is None:
            return True
        try:
            self._before_ack()
        except Exception:
            log.exception("%s: not acknowledged, SQS will redeliver", route.function_name)
            return False
        return True

    def _busy(self, queue: str | None) -> bool:
        """Whether `queue` (a route's name) holds messages, visible or in flight."""
        if queue is None:
            return False
        counts = self._sqs.get_queue_attributes(
            QueueUrl=self._routes[queue].queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return any(int(n) for n in counts.values())

    def drain(self, max_rounds: int = 10_000) -> int:
        """Poll every queue until all are empty (for tests and one-shot runs)."""
        total = 0
        for _ in range(max_rounds):
            got = sum(self.poll(name) for name in self._routes)
            total += got
            if got == 0:
                return total
        raise RuntimeError("queues did not drain")

    def run_forever(self, stop: threading.Event, name: str, wait_seconds: int = 1) -> None:
        yielding_since: float | None = None
        while not stop.is_set():
            try:
                if self._busy(self._routes[name].yields_to):
                    now = time.monotonic()
                    yielding_since = now if yielding_since is None else yielding_since
                    if now - yielding_since < MAX_YIELD_SECONDS:
                        stop.wait(YIELD_CHECK_SECONDS)
                        continue
                yielding_since = None
                if self._sends is None:
                    self.poll(name, wait_seconds, stop)
                    continue
                seen = self._sends.sends
                if not self.poll(name, 0, stop):
                    self._sends.wait_for_send(seen, wait_seconds)
            except Exception:  # keep pumping: one broken receive must not stop the stack
                log.exception("pump for %s failed; retrying", name)
                stop.wait(1.0)
