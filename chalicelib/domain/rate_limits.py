"""Rate limits per API key: a token bucket, decided here and stored by a RateLimitStore.

A bucket holds up to `burst` tokens and gains `per_second` tokens a second; a request takes
one. The state is (tokens, at, version): `at` is when `tokens` was computed, `version` counts
writes so a store can make each write conditional on the state it was computed from (two
functions racing on one key cannot both spend the same token). No stored bucket means a full
one, so an idle bucket may simply expire (`full_at`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RatePolicy:
    per_second: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 and self.burst > 0


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float
    version: int = 0


@dataclass(frozen=True)
class Draw:
    """The outcome of taking a token: when allowed, `bucket` is the state to store."""

    allowed: bool
    bucket: Bucket
    retry_after: int = 0  # whole seconds until a token is there (>= 1 when refused)


def refilled(bucket: Bucket | None, now: float, policy: RatePolicy) -> Bucket:
    """The bucket as of `now`. A clock that went back refills nothing (and keeps `at`)."""
    if bucket is None:
        return Bucket(float(policy.burst), now, 0)
    elapsed = max(0.0, now - bucket.at)
    tokens = min(float(policy.burst), bucket.tokens + elapsed * policy.per_second)
    return Bucket(tokens, max(now, bucket.at), bucket.version)


def take(bucket: Bucket | None, now: float, policy: RatePolicy) -> Draw:
    """Take one token, or say how long until there is one."""
    current = refilled(bucket, now, policy)
    if current.tokens >= 1.0:
        spent = Bucket(current.tokens - 1.0, current.at, current.version + 1)
        return Draw(True, spent)
    wait = (1.0 - current.tokens) / policy.per_second
    return Draw(False, current, max(1, math.ceil(wait)))


def full_at(bucket: Bucket, policy: RatePolicy) -> float:
    """When the bucket is full again: after that, forgetting it changes nothing."""
    return bucket.at + (policy.burst - bucket.tokens) / policy.per_second
