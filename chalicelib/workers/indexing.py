"""SQS handlers for the indexing pipeline: plan/stage/finalize (index queue), parse, embed."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.settings import Settings
from chalicelib.workers.sqs_batch import process

bp = Blueprint(__name__)
_QUEUES = Settings.from_env().names.queues


@bp.on_sqs_message(queue=_QUEUES["index"], batch_size=1, name="index_worker")
def index_worker(event: Any) -> dict[str, Any]:
    return process(event, lambda msg, left: bootstrap.pipeline().handle(msg, "index", left))


@bp.on_sqs_message(queue=_QUEUES["parse"], batch_size=5, name="parse_worker")
def parse_worker(event: Any) -> dict[str, Any]:
    return process(event, lambda msg, left: bootstrap.pipeline().handle(msg, "parse", left))


@bp.on_sqs_message(queue=_QUEUES["embed"], batch_size=1, name="embed_worker")
def embed_worker(event: Any) -> dict[str, Any]:
    return process(event, lambda msg, left: bootstrap.pipeline().handle(msg, "embed", left))
