"""Queue messages: commands in the imperative, encoded as small JSON objects.

Bodies stay tiny (ids and counters): bulk data travels through S3 staging objects, so no
message comes near SQS's size limit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from chalicelib.errors import MalformedMessage


@dataclass(frozen=True)
class IndexRepository:
    """Build the newest requested SHA of a repository (the SHA is read from its item)."""

    type: ClassVar[str] = "IndexRepository"
    queue: ClassVar[str] = "index"
    repository_id: str
    force: bool = False


@dataclass(frozen=True)
class StageBatches:
    """Continue staging a job's parse batches from `start` (after a deadline stop)."""

    type: ClassVar[str] = "StageBatches"
    queue: ClassVar[str] = "index"
    job_id: str
    start: int


@dataclass(frozen=True)
class ParseBatch:
    """Parse the blobs staged for batch number `batch` of a job."""

    type: ClassVar[str] = "ParseBatch"
    queue: ClassVar[str] = "parse"
    job_id: str
    batch: int


@dataclass(frozen=True)
class FinalizeGeneration:
    """Pack and publish a job's generation once every batch is done."""

    type: ClassVar[str] = "FinalizeGeneration"
    queue: ClassVar[str] = "index"
    job_id: str


@dataclass(frozen=True)
class EmbedBatch:
    """Embed the chunks of parse batch number `batch` of a job that have no cached vector."""

    type: ClassVar[str] = "EmbedBatch"
    queue: ClassVar[str] = "embed"
    job_id: str
    batch: int


@dataclass(frozen=True)
class PlanCheck:
    """Plan a check run (read the tree at its SHA) and stage its batches from `start`."""

    type: ClassVar[str] = "PlanCheck"
    queue: ClassVar[str] = "check"
    repository_id: str
    check_id: str
    start: int = 0


@dataclass(frozen=True)
class CheckBatch:
    """Find or make the results of the units of batch number `batch` of a check run."""

    type: ClassVar[str] = "CheckBatch"
    queue: ClassVar[str] = "check"
    repository_id: str
    check_id: str
    batch: int


@dataclass(frozen=True)
class DeliverCallback:
    """POST one event to a tenant's callback URL of a repository; `event` is the event's
    JSON (a few hundred bytes), `attempt` counts from 1 (services/callbacks.py)."""

    type: ClassVar[str] = "DeliverCallback"
    queue: ClassVar[str] = "callback"
    repository_id: str
    tenant: str
    event: str
    attempt: int = 1


Message = (
    IndexRepository
    | StageBatches
    | ParseBatch
    | FinalizeGeneration
    | EmbedBatch
    | PlanCheck
    | CheckBatch
    | DeliverCallback
)
_TYPES: dict[str, type[Any]] = {
    m.type: m
    for m in (
        IndexRepository,
        StageBatches,
        ParseBatch,
        FinalizeGeneration,
        EmbedBatch,
        PlanCheck,
        CheckBatch,
        DeliverCallback,
    )
}


def encode(message: Message) -> str:
    return json.dumps({"type": message.type, **asdict(message)}, separators=(",", ":"))


def decode(body: str) -> Message:
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage("message body is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedMessage("message body is not an object")
    cls = _TYPES.get(str(data.pop("type", "")))
    if cls is None:
        raise MalformedMessage("unknown message type")
    expected = {f.name: f.type for f in fields(cls)}
    if set(data) - set(expected):
        raise MalformedMessage(f"unexpected fields in {cls.type}")
    for name, value in data.items():
        want = {"str": str, "int": int, "bool": bool}[str(expected[name])]
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise MalformedMessage(f"{cls.type}.{name} has the wrong type")
    try:
        msg: Message = cls(**data)
    except TypeError as exc:
        raise MalformedMessage(f"{cls.type} is missing fields") from exc
    return msg
