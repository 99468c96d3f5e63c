"""A stand-in for app.py in the handler pool's worker processes (test_local_stack_processes):
an `app` whose handler_map holds a few handlers that show where and how they ran."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chalicelib.local.pump import LambdaContext


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"pid": os.getpid(), "event": event, "remaining": context.get_remaining_time_in_millis()}


def fail(event: dict[str, Any], context: Any) -> None:
    raise KeyError("the handler's own error")


def die(event: dict[str, Any], context: Any) -> None:
    os._exit(3)  # a crash in native code, as far as the pool can tell


def wait_for_stop(event: dict[str, Any], context: LambdaContext) -> int:
    """Say so in the file `event["started"]`, then run until the context says no time is
    left (the stack is stopping)."""
    Path(event["started"]).touch()
    deadline = time.monotonic() + 30
    while context.get_remaining_time_in_millis() > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return context.get_remaining_time_in_millis()


app = SimpleNamespace(
    handler_map={"echo": echo, "fail": fail, "die": die, "wait_for_stop": wait_for_stop}
)
