"""Idempotency records: a request sent again under the same `Idempotency-Key` gets the answer
the first one got, and a key sent with another request is refused. Pure.

A record is claimed (conditionally: one per scope and key) before the request does anything,
by an `owner` (one attempt); it may note what the attempt is about to make irreversible
(`planned`, e.g. the commit about to be pushed) and ends with the answer (`outcome`, opaque
text), after which it never changes until it expires. An attempt that died leaves a record
without an outcome: the next attempt with the same key takes it over and finishes the work
(services/commits.py says how it tells what the dead one did).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.errors import InvalidRequest

MAX_KEY_LENGTH = 255
KEY_PATTERN = r"^[!-~]{1,255}$"  # printable ASCII, no spaces (UUIDs, ULIDs, hashes, ...)
_KEY_RE = re.compile(KEY_PATTERN)


def validate_idempotency_key(value: object) -> str | None:
    """The header's value, or None when it was not sent."""
    if value is None:
        return None
    if not isinstance(value, str) or not _KEY_RE.match(value):
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return value


@dataclass(frozen=True)
class IdempotencyRecord:
    scope: str  # what the key is unique within (a repository's commits)
    key: str
    fingerprint: str  # of the request that claimed it
    owner: str  # the attempt working on it (the latest to take it over)
    created_at: float
    expires_at: float
    started_at: float  # when the first attempt claimed it: commits are dated by it
    planned: str | None = None  # what the attempt is about to make irreversible
    outcome: str | None = None  # the answer, once there is one

    @property
    def done(self) -> bool:
        return self.outcome is not None
