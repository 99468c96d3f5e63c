"""Routes an indexing command to the use case that handles it (one place for workers and tests)."""

from __future__ import annotations

from chalicelib.domain.messages import (
    EmbedBatch,
    FinalizeGeneration,
    IndexRepository,
    Message,
    ParseBatch,
    StageBatches,
)
from chalicelib.errors import MalformedMessage
from chalicelib.services.batch_embedder import BatchEmbedder
from chalicelib.services.batch_parser import BatchParser
from chalicelib.services.context import IndexConfig, IndexPorts, RemainingMillis
from chalicelib.services.generation_publisher import GenerationPublisher
from chalicelib.services.index_planner import IndexPlanner


class IndexPipeline:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self.planner = IndexPlanner(ports=ports, config=config)
        self.parser = BatchParser(ports=ports, config=config)
        self.embedder = BatchEmbedder(ports=ports, config=config)
        self.publisher = GenerationPublisher(ports=ports, config=config)

    def handle(
        self, message: Message, queue: str, remaining: RemainingMillis | None = None
    ) -> None:
        if message.queue != queue:
            raise MalformedMessage(f"{message.type} does not belong on the {queue} queue")
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
