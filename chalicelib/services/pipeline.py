"""Routes an indexing command to the use case that handles it (one place for workers and tests).

A permanent failure of a message that names a job ends that job in `error` here, whatever
the step, so no job waits forever for a batch whose message was acknowledged unprocessed.
Dead letters (messages that exhausted their retries) come in through `dead_letter`.
"""

from __future__ import annotations

import logging

from chalicelib.domain.messages import (
    EmbedBatch,
    FinalizeGeneration,
    IndexRepository,
    Message,
    ParseBatch,
    StageBatches,
)
from chalicelib.errors import MalformedMessage, is_permanent
from chalicelib.services.batch_embedder import BatchEmbedder
from chalicelib.services.batch_parser import BatchParser
from chalicelib.services.context import IndexConfig, IndexPorts, RemainingMillis
from chalicelib.services.dead_letters import DeadLetters
from chalicelib.services.generation_publisher import GenerationPublisher
from chalicelib.services.index_planner import IndexPlanner
from chalicelib.services.job_endings import fail_job_by_id, public_message

log = logging.getLogger(__name__)
# The messages that name an index job (check runs have their own worker: check_runner.py).
JOB_MESSAGES = (StageBatches, ParseBatch, FinalizeGeneration, EmbedBatch)


class IndexPipeline:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self.ports = ports
        self.planner = IndexPlanner(ports=ports, config=config)
        self.parser = BatchParser(ports=ports, config=config)
        self.embedder = BatchEmbedder(ports=ports, config=config)
        self.publisher = GenerationPublisher(ports=ports, config=config)
        self.dead_letters = DeadLetters(ports=ports, config=config)

    def handle(
        self, message: Message, queue: str, remaining: RemainingMillis | None = None
    ) -> None:
        _check_queue(message, queue)
        try:
            self._dispatch(message, remaining)
        except Exception as exc:
            if not is_permanent(exc) or not isinstance(message, JOB_MESSAGES):
                raise  # retried by SQS; or nothing was started: the worker acknowledges it
            log.warning("%s of job %s failed for good", message.type, message.job_id, exc_info=True)
            fail_job_by_id(self.ports, message.job_id, public_message(exc))

    def dead_letter(self, message: Message, queue: str) -> None:
        """`message` exhausted its retries on `queue` (and now sits in its DLQ)."""
        _check_queue(message, queue)
        if isinstance(message, IndexRepository):
            self.dead_letters.repository(message.repository_id)
        elif isinstance(message, JOB_MESSAGES):
            self.dead_letters.job(message.job_id)

    def _dispatch(self, message: Message, remaining: RemainingMillis | None) -> None:
        if isinstance(message, IndexRepository):
            self.planner.start(message, remaining)
        elif isinstance(message, StageBatches):
            self.planner.resume(message, remaining)
        elif isinstance(message, ParseBatch):
            self.parser.parse(message)
        elif isinstance(message, EmbedBatch):
            self.embedder.embed(message, remaining)
        elif isinstance(message, FinalizeGeneration):
            self.publisher.finalize(message.job_id)


def _check_queue(message: Message, queue: str) -> None:
    if message.queue != queue:
        raise MalformedMessage(f"{message.type} does not belong on the {queue} queue")
