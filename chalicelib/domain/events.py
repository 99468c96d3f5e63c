"""Repository events: what happened to a repository's index, newest first.

Event names are past tense. Each event is keyed by `<epoch ms, 15 digits>#<id>` under its
repository, so a DynamoDB query (or a sorted dict) lists them by time; the id starts with a
per-process sequence number so events appended in the same millisecond by one process keep
their order. A page cursor is the last key shown, base64url-encoded: opaque to clients,
and checked on the way back in.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.checks import Check
from chalicelib.domain.models import Generation, Job, Stats
from chalicelib.errors import InvalidRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_ERROR_CHARS = 500
_KEY_RE = re.compile(r"^[0-9]{15}#[0-9a-f]{20}$")
_sequence = itertools.count()


class EventType(StrEnum):
    WEBHOOK_RECEIVED = "WebhookReceived"
    INDEX_REQUESTED = "IndexRequested"
    INDEX_STARTED = "IndexStarted"
    GENERATION_PUBLISHED = "GenerationPublished"
    INDEX_FAILED = "IndexFailed"
    BRANCH_DELETED = "BranchDeleted"
    REFRESH_FAILED = "RefreshFailed"
    COMMIT_PUSHED = "CommitPushed"
    CHECK_REQUESTED = "CheckRequested"
    CHECK_FINISHED = "CheckFinished"


@dataclass(frozen=True)
class Event:
    repository_id: str
    key: str
    type: str
    at: float
    data: Mapping[str, object]
    # Who caused it: `key:<key id>` (an API request), `github` (a webhook), `sweep`; None for
    # what the workers record on their own (IndexStarted, GenerationPublished, IndexFailed).
    actor: str | None = None


@dataclass(frozen=True)
class EventPage:
    events: tuple[Event, ...]
    last_key: str | None  # the key to continue after, or None on the last page


def new_event_key(at: float) -> str:
    """A sort key for an event at `at` (epoch seconds): time first, then a unique id."""
    sequence = next(_sequence) % 10**12
    return f"{int(at * 1000):015d}#{sequence:012x}{secrets.token_hex(4)}"


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: object) -> str | None:
    """The event key a cursor names; None for no cursor. Raises InvalidRequest."""
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str) or len(cursor) > 64:
        raise InvalidRequest("cursor is not one this service returned")
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("cursor is not one this service returned") from exc
    if not _KEY_RE.match(key):
        raise InvalidRequest("cursor is not one this service returned")
    return key


def index_started(job: Job) -> dict[str, object]:
    return {"jobId": job.job_id, "sha": job.sha, "fence": job.fence}


def generation_published(generation: Generation, stats: Stats) -> dict[str, object]:
    return {
        "sha": generation.sha,
        "fence": generation.fence,
        "stats": {
            "totalFiles": stats.total_files,
            "totalSize": stats.total_size,
            "chunks": stats.chunks,
            "blobsParsed": stats.blobs_parsed,
            "blobsReused": stats.blobs_reused,
            "chunksEmbedded": stats.chunks_embedded,
        },
    }


def index_failed(sha: str | None, error: str) -> dict[str, object]:
    return {"sha": sha, "error": error[:MAX_ERROR_CHARS]}


def check_requested(check: Check) -> dict[str, object]:
    return {
        "checkId": check.check_id,
        "sha": check.sha,
        "level": str(check.level),
        "paths": list(check.paths),
    }


def check_finished(check: Check) -> dict[str, object]:
    """The check's ending: its status, why when `error`, and what it found and ran."""
    found = {name: int(check.counts.get(name, 0)) for name in ("errors", "warnings")}
    return {
        "checkId": check.check_id,
        "sha": check.sha,
        "level": str(check.level),
        "status": str(check.status),
        "message": check.message[:MAX_ERROR_CHARS] if check.message else None,
        **found,
        "toolRuns": int(check.counts.get("tool_runs", 0)),
        "reused": int(check.counts.get("reused", 0)),
    }
