"""A Secrets Manager document read at most once per `ttl_seconds` per process.

Subclasses say how the document reads (`parse`) and what a missing secret means (`missing`:
a value to use, or an error to raise). A rotation takes effect within the TTL.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from chalicelib.errors import NotFound
from chalicelib.ports import Clock, SecretStore

T = TypeVar("T")


class CachedSecret(Generic[T]):
    def __init__(self, store: SecretStore, name: str, clock: Clock, ttl_seconds: float) -> None:
        self._store = store
        self._name = name
        self._clock = clock
        self._ttl = ttl_seconds
        self._cached: tuple[float, T] | None = None
        self._lock = threading.Lock()

    def parse(self, document: str) -> T:
        raise NotImplementedError

    def missing(self, exc: NotFound) -> T:
        raise NotImplementedError

    def get(self) -> T:
        now = self._clock.now()
        with self._lock:
            if self._cached and now - self._cached[0] < self._ttl:
                return self._cached[1]
        try:
            value = self.parse(self._store.read(self._name))
        except NotFound as exc:
            value = self.missing(exc)
        with self._lock:
            self._cached = (now, value)
        return value
