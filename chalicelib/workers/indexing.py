"""SQS handlers for the indexing pipeline: plan/stage/finalize (index queue), parse, embed,
and one consumer per dead-letter queue, which ends the job of a message that exhausted its
retries (so no repository stays `indexing` for ever)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.settings import Settings
from chalicelib.workers.sqs_batch import process, process_dead_letters
from chalicelib.workers.standalone import with_app_middleware

bp = Blueprint(__name__)
_NAMES = Settings.from_env().names
_QUEUES = _NAMES.queues
_DEAD = _NAMES.dead_letter_queues


@bp.on_sqs_message(queue=_QUEUES["index"], batch_size=1, name="index_worker")
def index_worker(event: Any) -> dict[str, Any]:
    return process(event, lambda msg, left: bootstrap.pipeline().handle(msg, "index", left))


@bp.on_sqs_message(queue=_QUEUES["parse"], batch_size=5, name="parse_worker")
def parse_worker(event: Any) -> dict[str, Any]:
    return process(event, lambda msg, left: bootstrap.pipeline().handle(msg, "parse", left))


@bp.on_sqs_message(queue=_QUEUES["embed"], batch_size=1, name="embed_worker")
def embed_worker(event: Any) -> dict[str, Any]:
    return process(event, lambda msg, left: bootstrap.pipeline().handle(msg, "embed", left))


@bp.on_sqs_message(queue=_DEAD["index"], batch_size=10, name="index_dlq_worker")
def index_dlq_worker(event: Any) -> dict[str, Any]:
    return process_dead_letters(event, lambda msg: bootstrap.pipeline().dead_letter(msg, "index"))


@bp.on_sqs_message(queue=_DEAD["parse"], batch_size=10, name="parse_dlq_worker")
def parse_dlq_worker(event: Any) -> dict[str, Any]:
    return process_dead_letters(event, lambda msg: bootstrap.pipeline().dead_letter(msg, "parse"))


@bp.on_sqs_message(queue=_DEAD["embed"], batch_size=10, name="embed_dlq_worker")
def embed_dlq_worker(event: Any) -> dict[str, Any]:
    return process_dead_letters(event, lambda msg: bootstrap.pipeline().dead_letter(msg, "embed"))


with_app_middleware(
    index_worker, parse_worker, embed_worker, index_dlq_worker, parse_dlq_worker, embed_dlq_worker
)
