"""An in-memory IdempotencyStore with DynamoIdempotencyStore's conditions (the contract
tests hold both to the same assertions). Thread-safe: the concurrency tests share one."""

from __future__ import annotations

import threading
from dataclasses import replace

from chalicelib.domain.idempotency import IdempotencyRecord


class FakeIdempotencyStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], IdempotencyRecord] = {}
        self._lock = threading.Lock()

    def claim(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        with self._lock:
            found = self.records.get((record.scope, record.key))
            if found is not None and found.expires_at >= now:
                return found
            self.records[(record.scope, record.key)] = record
            return None

    def take_over(self, found: IdempotencyRecord, owner: str) -> IdempotencyRecord | None:
        with self._lock:
            current = self.records.get((found.scope, found.key))
            if current is None or current.done or current.owner != found.owner:
                return None
            taken = replace(current, owner=owner)
            self.records[(found.scope, found.key)] = taken
            return taken

    def plan(self, scope: str, key: str, *, owner: str, planned: str) -> bool:
        return self._update(scope, key, owner, planned=planned)

    def finish(self, scope: str, key: str, *, owner: str, outcome: str) -> bool:
        return self._update(scope, key, owner, outcome=outcome)

    def release(self, scope: str, key: str, *, owner: str) -> None:
        with self._lock:
            current = self.records.get((scope, key))
            if current is not None and current.owner == owner and not current.done:
                del self.records[(scope, key)]

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        with self._lock:
            return self.records.get((scope, key))

    def _update(self, scope: str, key: str, owner: str, **changes: str) -> bool:
        with self._lock:
            current = self.records.get((scope, key))
            if current is None or current.owner != owner or current.done:
                return False
            self.records[(scope, key)] = replace(current, **changes)  # type: ignore[arg-type]
            return True
