"""SqsWorkQueue: sends commands to the work queues (index, parse).

AWS resources: the queues named in Settings.names.queues. IAM: sqs:GetQueueUrl, sqs:SendMessage.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import translate
from chalicelib.domain.messages import Message, encode
from chalicelib.errors import TransientError

_BATCH = 10  # SQS SendMessageBatch limit


class SqsWorkQueue:
    def __init__(self, client: Any, queue_names: Mapping[str, str]) -> None:
        self._sqs = client
        self._names = dict(queue_names)
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def _url(self, queue: str) -> str:
        with self._lock:
            if queue not in self._urls:
                try:
                    resp = self._sqs.get_queue_url(QueueName=self._names[queue])
                except (ClientError, BotoCoreError) as exc:
                    raise translate(exc, f"queue {queue}") from exc
                self._urls[queue] = resp["QueueUrl"]
            return self._urls[queue]

    def send(self, message: Message, *, delay_seconds: int = 0) -> None:
        try:
            self._sqs.send_message(
                QueueUrl=self._url(message.queue),
                MessageBody=encode(message),
                DelaySeconds=delay_seconds,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"send {message.type}") from exc

    def send_many(self, messages: Sequence[Message]) -> None:
        by_queue: dict[str, list[Message]] = defaultdict(list)
        for m in messages:
            by_queue[m.queue].append(m)
        for queue, msgs in by_queue.items():
            for start in range(0, len(msgs), _BATCH):
                self._send_batch(queue, msgs[start : start + _BATCH])

    def _send_batch(self, queue: str, msgs: Sequence[Message]) -> None:
        entries = [{"Id": str(i), "MessageBody": encode(m)} for i, m in enumerate(msgs)]
        try:
            resp = self._sqs.send_message_batch(QueueUrl=self._url(queue), Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"send batch to {queue}") from exc
        if resp.get("Failed"):
            raise TransientError(f"{len(resp['Failed'])} messages to {queue} were not accepted")
