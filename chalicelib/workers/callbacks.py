"""SQS handler of the callback queue: one signed POST per DeliverCallback (services/callbacks.py),
one message per invocation (a slow receiver cannot push a batch past the timeout).
A message that failed its last attempt fails its record, and SQS moves it to the callback
DLQ, which has no consumer: the index it reports on ended already."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib import bootstrap
from chalicelib.domain.messages import DeliverCallback
from chalicelib.errors import MalformedMessage
from chalicelib.settings import Settings
from chalicelib.workers.sqs_batch import process
from chalicelib.workers.standalone import with_app_middleware

bp = Blueprint(__name__)
_NAMES = Settings.from_env().names


def _deliver(message: object, _left: object) -> None:
    if not isinstance(message, DeliverCallback):
        raise MalformedMessage("the callback queue carries DeliverCallback messages only")
    bootstrap.callback_sender().deliver(message)


@bp.on_sqs_message(queue=_NAMES.queues["callback"], batch_size=1, name="callback_worker")
def callback_worker(event: Any) -> dict[str, Any]:
    return process(event, _deliver)


with_app_middleware(callback_worker)
