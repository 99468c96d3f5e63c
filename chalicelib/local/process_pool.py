"""Handler invocations in worker processes: Lambda's fan-out on every core of one machine.

On Lambda each invocation of a worker function runs in its own execution environment, so
parse batches are parsed in parallel on as many cores as there are concurrent invocations.
Pump threads in one process would share one interpreter lock; for the queues named in
`StackOptions.processes`, the pump's threads instead hand each invocation to a pool of
processes and wait for its answer. Everything else stays as it was: the pump receives,
builds the SQS event and the context's deadline, deletes what succeeded (after `before_ack`)
and leaves the rest to its visibility timeout; a worker process reaches AWS (moto, behind the
write gate when durable) over HTTP with the stack's settings, as a Lambda would.

A worker process imports `app` (as Lambda's runtime does) and is started with "spawn": the
stack's process runs threads (moto's server, pumps), which a fork would copy mid-flight.
`start()` spawns the processes at once (the stack calls it when it starts, so the first
index does not wait for imports); otherwise they start on the first invocation. Stopping sets
an event every
worker's context reads as "no time left" (so a long handler winds down as near Lambda's
deadline), then waits for the processes to exit. A process that dies (a crash in a native
parser) breaks the pool: that invocation fails (SQS redelivers it) and the next one gets a
fresh pool, as Lambda would start a fresh environment.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.synchronize import Event
from typing import Any

from chalicelib import bootstrap
from chalicelib.local.pump import LambdaContext
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

APP_MODULE = "app"  # where Lambda's runtime finds the Chalice app: app.py's `app`


class HandlerFailed(Exception):
    """A handler raised in a worker process (its traceback is logged there). Carries only a
    message: the original exception may not survive pickling back to the pump."""


class HandlerPool:
    """A pool of `size` worker processes running the Chalice app's handlers by name."""

    def __init__(self, size: int, settings: Settings, app_module: str = APP_MODULE) -> None:
        self._size = size
        self._settings = settings
        self._app_module = app_module
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        self._starting: list[Future[None]] = []

    def start(self) -> None:
        """Spawn every worker process now, in the background (their imports take seconds)."""
        executor = self._executor_for_use()
        self._starting = [executor.submit(_ready) for _ in range(self._size)]

    def wait_started(self, timeout: float) -> bool:
        """Whether the processes `start` spawned are up, waiting up to `timeout` seconds."""
        return not wait(self._starting, timeout).not_done

    def handler(self, function_name: str) -> PooledHandler:
        """A pump handler for `function_name` that runs it in this pool."""
        return PooledHandler(self, function_name)

    def invoke(self, function_name: str, event: dict[str, Any], context: LambdaContext) -> Any:
        """Run one invocation in a worker process and return its result (or raise)."""
        remaining = context.get_remaining_time_in_millis() / 1000
        executor = self._executor_for_use()
        try:
            future = executor.submit(_invoke, function_name, event, remaining)
            return future.result()
        except BrokenProcessPool:
            self._discard(executor)
            raise

    def _executor_for_use(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the handler pool is stopped")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self._size,
                    mp_context=self._context,
                    initializer=_start_worker,
                    initargs=(self._settings, self._app_module, self._stop),
                )
            return self._executor

    def _discard(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        log.warning("a handler process died; the next invocation starts a fresh pool")
        broken.shutdown(wait=True)

    def signal_stop(self) -> None:
        """Running handlers see no time left from now on (the stack is stopping)."""
        self._stop.set()

    def close(self) -> None:
        """Signal stop, refuse new invocations and wait for the processes to exit."""
        self.signal_stop()
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class PooledHandler:
    """What the pump calls as `handler(event, context)`, run in the pool."""

    def __init__(self, pool: HandlerPool, function_name: str) -> None:
        self._pool = pool
        self.function_name = function_name

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        return self._pool.invoke(self.function_name, event, context)


# --- in the worker process ----------------------------------------------------------------

_worker: dict[str, Any] = {}


def _start_worker(settings: Settings, app_module: str, stop: Event) -> None:
    # Ctrl-C reaches the terminal's whole process group: the stack stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(processName)s %(name)s: %(message)s")
    bootstrap.configure(settings)
    _worker["app"] = importlib.import_module(app_module).app
    _worker["stop"] = stop


def _ready() -> None:
    """Nothing: submitted once per process by `start`, so that each one is spawned."""


def _invoke(function_name: str, event: dict[str, Any], remaining_seconds: float) -> Any:
    context = LambdaContext(function_name, remaining_seconds, stop=_worker["stop"])
    try:
        return _worker["app"].handler_map[function_name](event, context)
    except Exception as exc:
        log.exception("%s failed in a worker process", function_name)
        raise HandlerFailed(f"{function_name}: {type(exc).__name__}: {exc}") from None
