"""SystemClock: wall-clock time (no AWS resources)."""

from __future__ import annotations

import time


class SystemClock:
    def now(self) -> float:
        return time.time()
