"""SQS and Lambda around the unit harness: the FakeWorkQueue's messages are delivered to the
same record handlers the workers use (chalicelib/workers/sqs_batch.py), with SQS's rules.

A record that fails comes back (after the others, as a visibility timeout would make it);
after `max_receives` receives it moves to its queue's DLQ, whose consumer then gets it. A
message may be delivered `copies` times in a row (SQS's at-least-once delivery). After every
delivery `after_each` runs, so a test can check what a reader would see at that moment.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.messages import Message, encode
from chalicelib.services.context import RemainingMillis
from chalicelib.services.pipeline import IndexPipeline
from chalicelib.workers.sqs_batch import process, process_dead_letters

MAX_RECEIVES = 5  # infra/resources.json: maxReceiveCount of every queue
MAX_DEAD_RECEIVES = 50  # a dead letter that keeps failing transiently: a bug, not a retry


@dataclass
class _Event:
    """The two things sqs_batch reads of a Chalice SQSEvent."""

    body: str
    context: Any = None

    def to_dict(self) -> dict[str, Any]:
        record = {
            "messageId": "m-1",
            "receiptHandle": "r-1",
            "body": self.body,
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
            "awsRegion": "us-east-1",
        }
        return {"Records": [record]}


def _succeeded(response: dict[str, Any]) -> bool:
    return not response.get("batchItemFailures")


@dataclass
class SimulatedSqs:
    pending: deque[Message]  # the FakeWorkQueue's `pending`: what the services send
    pipeline: Callable[[], IndexPipeline]
    copies: int = 1
    max_receives: int = MAX_RECEIVES
    after_each: Callable[[], None] = lambda: None
    dead: list[Message] = field(default_factory=list)  # every message that reached a DLQ
    deliveries: int = 0

    def run(self, limit: int = 20_000) -> None:
        """Deliver until every queue and DLQ is empty."""
        inflight: deque[tuple[Message, int]] = deque()
        dlq: deque[tuple[Message, int]] = deque()
        for _ in range(limit):
            while self.pending:
                inflight.append((self.pending.popleft(), 0))
            if inflight:
                message, receives = inflight.popleft()
                if not self._deliver(message):
                    if receives + 1 >= self.max_receives:
                        self.dead.append(message)
                        dlq.append((message, 0))
                    else:
                        inflight.append((message, receives + 1))
            elif dlq:
                message, receives = dlq.popleft()
                if not self._deliver_dead(message):
                    assert receives + 1 < MAX_DEAD_RECEIVES, f"{message} keeps failing"
                    dlq.append((message, receives + 1))
            else:
                return
            self.after_each()
        raise AssertionError("the queues did not drain")

    def _deliver(self, message: Message) -> bool:
        event = _Event(encode(message))
        for _ in range(self.copies):
            self.deliveries += 1
            pipeline = self.pipeline()

            def handle(
                m: Message, left: RemainingMillis | None, p: IndexPipeline = pipeline
            ) -> None:
                p.handle(m, m.queue, left)

            if not _succeeded(process(event, handle)):
                return False
        return True

    def _deliver_dead(self, message: Message) -> bool:
        self.deliveries += 1
        pipeline = self.pipeline()
        event = _Event(encode(message))
        return _succeeded(process_dead_letters(event, lambda m: pipeline.dead_letter(m, m.queue)))
