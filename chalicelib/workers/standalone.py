"""Lambda imports a worker's own module (Chalice names a blueprint function's handler after
it), never app.py, so `app.register_middleware` would not reach it there. Each worker module
hands its handlers the app's invocation middleware itself; app.register_blueprint later sets
the same list again, so in tests and the local stack nothing runs twice."""

from __future__ import annotations

from typing import Any

from chalicelib import bootstrap, observability


def with_app_middleware(*handlers: Any) -> None:
    """Give each (Chalice EventSourceHandler) the middleware app.py registers for "all"."""
    for handler in handlers:
        handler.middleware_handlers = [observability.middleware(bootstrap.telemetry)]
