"""`strata serve`: run the local stack in the foreground until Ctrl-C or SIGTERM.

Prints where it listens; on the very first start (no snapshot yet) it asks the stack to index
the Strata checkout itself, through the API like any client, and prints a query to try. The
local admin API key (admin_key.py: STRATA_API_KEY, else `<state dir>/api-key`, else a new
one, printed once) is what the demonstration and the `strata` command use.
SIGINT/SIGTERM stop the HTTP server, the pumps and the timer, commit the state a last time and
stop the embedded AWS; a second Ctrl-C while that runs interrupts it (the last commit stays
intact). The state is durable while it runs (stack.py): after a crash or kill -9, the next
start restores what was acknowledged and resumes the queued work.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from chalicelib import observability
from chalicelib.client import ClientError, StrataClient
from chalicelib.local.admin_key import AdminKey, provide_admin_key
from chalicelib.local.stack import ROOT, LocalStack, StackOptions

log = logging.getLogger(__name__)

DEMO_QUERY = "fenced publish"


def configure_logging(verbose: bool) -> None:
    """Human lines on stderr: the handlers' structured logs with their keys (repositoryId,
    jobId, ...), warnings only unless `verbose`."""
    observability.configure_console(logging.INFO if verbose else logging.WARNING)
    if verbose:
        logging.getLogger("strata.http").setLevel(logging.DEBUG)
    # boto's pool is smaller than the finalizer's fetch threads: a harmless warning per fetch.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


def _install_signal_handlers(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signals only reach the main thread; an embedding caller stops us itself

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        # A second Ctrl-C interrupts the shutdown; a second SIGTERM ends the process.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def start_demo(api_url: str, api_key: str | None = None) -> str | None:
    """Ask for an index of the Strata checkout; its repository id, or None if not possible."""
    if not (ROOT / ".git").exists():
        return None
    try:
        return StrataClient(api_url, api_key=api_key).index_repository(url=str(ROOT)).repository_id
    except ClientError as exc:  # e.g. a checkout without a commit: no demonstration then
        log.info("no demonstration index: %s", exc.message)
        return None


def announce(stack: LocalStack, demo: bool, admin: AdminKey | None = None) -> None:
    print(f"Strata API on {stack.api_url} (embedded AWS on {stack.aws_url})", flush=True)
    print(f"Live status (WebSocket API) on {stack.ws_url}", flush=True)
    state = stack.options.state_dir
    restored = stack.restored
    if restored is not None:
        print(
            f"Restored {restored.objects} objects, {restored.items} items and "
            f"{restored.messages} messages from {state} in {restored.seconds:.2f} s"
        )
    else:
        print(f"New state in {state}")
    key = admin.token if admin else None
    rid = start_demo(stack.api_url, key) if demo and restored is None else None
    if rid is not None:
        print(f"Indexing the Strata checkout as {rid} in the background. Try:")
        print(f"  strata status {rid}")
        print(f'  strata search {rid} "{DEMO_QUERY}"')
    if admin is not None:
        print(admin.banner(rid, DEMO_QUERY))
    print("Press Ctrl-C to stop.", flush=True)


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def serve(
    options: StackOptions,
    *,
    demo: bool = True,
    verbose: bool = False,
    stop: threading.Event | None = None,
    api_key: str | None = None,
) -> int:
    """Run until `stop` is set (by SIGINT/SIGTERM when none is given); the exit status.
    `api_key` (STRATA_API_KEY) becomes the local admin key."""
    configure_logging(verbose)
    try:
        return _serve(options, demo=demo, stop=stop, api_key=api_key)
    finally:
        observability.reset()  # the process's logging is the caller's again


def _serve(
    options: StackOptions, *, demo: bool, stop: threading.Event | None, api_key: str | None
) -> int:
    if stop is None:
        stop = threading.Event()
        _install_signal_handlers(stop)
    stack = LocalStack(options)
    try:
        stack.start()
        admin = provide_admin_key(options.state_dir, api_key)  # AdminKeyRefused: RuntimeError
    except (OSError, RuntimeError) as exc:
        stack.stop()
        print(f"strata: cannot start the local stack: {_why(exc)}", file=sys.stderr)
        return 1
    try:
        announce(stack, demo, admin)
        while not stop.wait(0.5):
            pass
        print("Stopping...", flush=True)
    finally:
        saved = stack.stop()
    if saved is not None:
        print(
            f"Saved {saved.objects} objects, {saved.items} items and {saved.messages} messages "
            f"to {saved.path} in {saved.seconds:.2f} s",
            flush=True,
        )
    return 0
