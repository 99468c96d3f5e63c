"""Shared SQS plumbing: decode each record and report per-record failures (Powertools).

What happens to a failed record is read from the error's retry axis (`retryable`,
chalicelib/errors.py), not from its type: a retryable error and a bug fail the record (SQS
redelivers it, then moves it to the DLQ); a permanent one is logged and the record
acknowledged, since a retry cannot help. Dead letters (`process_dead_letters`) fail their
record only on a retryable error: a DLQ has no DLQ of its own, so anything else is logged
and acknowledged.

Each record runs in its own observability scope: its message id, type, repository or job
are on every log line it causes (the services add the rest, e.g. the job's repository).
Each batch reports how many of its records failed (`BatchFailures`, 0 included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import observability
from chalicelib.domain.messages import Message, decode
from chalicelib.errors import StrataError
from chalicelib.observability import Metric
from chalicelib.services.context import RemainingMillis

log = logging.getLogger(__name__)

Handle = Callable[[Message, RemainingMillis | None], None]
HandleDead = Callable[[Message], None]
# Log keys named after the API's fields (repositoryId, jobId, batch...).
_KEYS = {
    "repository_id": "repositoryId",
    "job_id": "jobId",
    "check_id": "checkId",
    "batch": "batch",
    "start": "start",
}


def remaining_millis(context: Any) -> RemainingMillis | None:
    fn = getattr(context, "get_remaining_time_in_millis", None)
    return fn if callable(fn) else None


def process(event: Any, handle: Handle) -> dict[str, Any]:
    """Run `handle` on every record of a Chalice SQSEvent; returns the partial batch response."""
    remaining = remaining_millis(event.context)

    def on_record(record: SQSRecord) -> None:
        with observability.scope("record", messageId=record.message_id):
            try:
                message = decode(record.body)
                observability.append_keys(**message_keys(message))
                handle(message, remaining)
            except StrataError as exc:
                if exc.retryable is False:
                    observability.count(Metric.MESSAGES_DROPPED)
                    log.warning("dropping message %s: %s", record.message_id, exc.message)
                    return
                if exc.retryable:
                    log.warning("message %s will be retried", record.message_id, exc_info=True)
                else:
                    log.exception("message %s failed unexpectedly", record.message_id)
                raise
            except Exception:
                log.exception("message %s failed unexpectedly", record.message_id)
                raise

    return _partial_response(event, on_record)


def process_dead_letters(event: Any, handle: HandleDead) -> dict[str, Any]:
    """Run `handle` on every dead letter of a Chalice SQSEvent (see the module docstring)."""

    def on_record(record: SQSRecord) -> None:
        with observability.scope("dead letter", messageId=record.message_id):
            observability.count(Metric.DEAD_LETTERS)
            try:
                message = decode(record.body)
                observability.append_keys(**message_keys(message))
                handle(message)
            except Exception as exc:
                if isinstance(exc, StrataError) and exc.retryable:
                    raise  # back in the DLQ after its visibility timeout, to try again
                log.exception("dead letter %s cannot be handled; dropping it", record.message_id)

    return _partial_response(event, on_record)


def message_keys(message: Message) -> dict[str, object]:
    """A message's type and ids, as log keys."""
    fields = asdict(message)
    return {"messageType": message.type} | {
        key: fields[name] for name, key in _KEYS.items() if name in fields
    }


def _partial_response(event: Any, on_record: Callable[[SQSRecord], None]) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event.to_dict(),
            record_handler=on_record,
            processor=processor,
            context=event.context,
        )
    )
    failed = len(response.get("batchItemFailures", ()))
    observability.count(Metric.BATCH_FAILURES, failed)
    return response
