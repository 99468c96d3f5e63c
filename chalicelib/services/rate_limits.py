"""Use case: spend one token of a key's bucket per request, or refuse with RateLimited.

One strongly consistent read and, when the request is allowed, one conditional write (on the
version read), retried once from a fresh read if another request won the race. A refused
request writes nothing. Losing twice in a row means the key is hammered from many places at
once: refused too, with Retry-After 1.
"""

from __future__ import annotations

from chalicelib.domain.rate_limits import RatePolicy, full_at, take
from chalicelib.errors import RateLimited
from chalicelib.ports import Clock, RateLimitStore

_ATTEMPTS = 2


class RateLimiter:
    def __init__(self, *, buckets: RateLimitStore, clock: Clock, policy: RatePolicy) -> None:
        self._buckets = buckets
        self._clock = clock
        self._policy = policy

    def take(self, bucket_id: str) -> None:
        """Raises RateLimited (with retry_after) when the bucket has no token."""
        if not self._policy.enabled:
            return
        for _ in range(_ATTEMPTS):
            stored = self._buckets.get(bucket_id)
            draw = take(stored, self._clock.now(), self._policy)
            if not draw.allowed:
                raise RateLimited(_message(draw.retry_after), draw.retry_after)
            previous = stored.version if stored is not None else None
            expires = full_at(draw.bucket, self._policy)
            if self._buckets.put(bucket_id, draw.bucket, previous=previous, expires_at=expires):
                return
        raise RateLimited(_message(1), 1)


def _message(seconds: int) -> str:
    return f"too many requests for this API key: retry in {seconds} s"
