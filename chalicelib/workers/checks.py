"""SQS handlers for check runs: the check queue (PlanCheck, CheckBatch) and its dead-letter
queue, whose consumer ends the check of a message that exhausted its retries in `error`
(so no check stays `queued` or `running` for ever)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.settings import Settings
from chalicelib.workers.sqs_batch import process, process_dead_letters
from chalicelib.workers.standalone import with_app_middleware

bp = Blueprint(__name__)
_NAMES = Settings.from_env().names


@bp.on_sqs_message(queue=_NAMES.queues["check"], batch_size=1, name="check_worker")
def check_worker(event: Any) -> dict[str, Any]:
    return process(event, lambda msg, left: bootstrap.check_runner().handle(msg, "check", left))


@bp.on_sqs_message(queue=_NAMES.dead_letter_queues["check"], batch_size=10, name="check_dlq_worker")
def check_dlq_worker(event: Any) -> dict[str, Any]:
    return process_dead_letters(
        event, lambda msg: bootstrap.check_runner().dead_letter(msg, "check")
    )


with_app_middleware(check_worker, check_dlq_worker)
