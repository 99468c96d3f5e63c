"""Logs, metrics and traces (Powertools for AWS Lambda) behind a few plain functions.

Powertools' Logger, Metrics and Tracer are imported here and nowhere else (the workers use its
batch utility): services and adapters call `append_keys`, `count`, `seconds` and `traced`;
`middleware` (registered in app.py for every event type) runs each Lambda invocation, API
request or batch, inside `invocation`, and the SQS plumbing runs each record inside `scope`.

- Logs: one Powertools Logger named `chalicelib`, the parent of every module's
  `logging.getLogger(__name__)`, so their lines carry the keys appended for the current
  invocation and record (kept per thread: the local stack runs handlers on many threads).
  JSON on stdout in Lambda; one human line per record on stderr elsewhere (`HumanFormatter`,
  the same fields). Powertools keeps the Lambda runtime's root handler from printing a
  second, plain copy; records still propagate, so pytest's caplog sees them.
- Metrics: CloudWatch EMF. Each invocation has its own metric set (EphemeralMetrics: the
  `Metrics` class shares one set per process, which threads would mix), flushed when it
  ends if anything was added. With human logs, the set is logged instead of printed.
- Traces: X-Ray subsegments for each invocation, record and `traced` call, only when
  `Telemetry.tracing` (a deployed function without POWERTOOLS_TRACE_DISABLED); otherwise no
  Tracer exists and nothing needs the X-Ray daemon. Responses and errors are never attached
  to a trace: they can hold repository content or credentials.

Keys never hold a secret: ids (repositoryId, jobId, requestId, messageId, keyId, ...), never a
token, an API key, a signature or a webhook secret.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar, cast

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.filters import SuppressFilter
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

PACKAGE = "chalicelib"
PATCHED_MODULES = ("botocore", "httplib")  # every AWS call and HTTP request gets a subsegment
# Their DEBUG lines hold request and response bodies (secret values, sealed tokens): never
# below INFO, whatever the root level (Lambda's log level control can set it to DEBUG).
WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
# The keys traces are searched by (X-Ray indexes annotations, at most 50 per trace).
ANNOTATED = frozenset(
    {"ColdStart", "Service", "route", "messageType", "repositoryId", "jobId", "generation"}
)
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


class Metric(StrEnum):
    """Everything Strata measures (namespace `Telemetry.namespace`, dimensions `service` and
    `function`, the Lambda function's name)."""

    INDEX_REQUESTS = "IndexRequests"  # Count: requests recorded (API, webhook, sweep)
    INDEX_DURATION = "IndexDuration"  # Seconds: job created -> its generation published
    PUSH_TO_QUERYABLE = "PushToQueryableLag"  # Seconds: webhook received -> generation published
    BLOBS_PARSED = "BlobsParsed"  # Count: blobs parsed by a parse batch
    BLOBS_REUSED = "BlobsReused"  # Count: blobs of a batch whose artifact existed already
    CHUNKS_EMBEDDED = "ChunksEmbedded"  # Count: chunks sent to the embedding model
    CHUNK_VECTORS_REUSED = "ChunkVectorsReused"  # Count: chunk vectors copied, not embedded
    INDEX_FAILURES = "IndexFailures"  # Count: jobs (or requests) ended in failure
    BATCH_FAILURES = "BatchFailures"  # Count: records of an SQS batch left for a retry
    MESSAGES_DROPPED = "MessagesDropped"  # Count: records acknowledged after a permanent error
    DEAD_LETTERS = "DeadLetters"  # Count: records handled by a dead-letter consumer
    ANSWER_MODEL_DURATION = "AnswerModelDuration"  # Seconds: one call to the answer model
    ANSWER_MODEL_FAILURES = "AnswerModelFailures"  # Count: model calls answered with a 503
    ANSWER_FALLBACKS = "AnswerFallbacks"  # Count: model replies replaced by the extractive one
    CITATIONS_DROPPED = "CitationsDropped"  # Count: citations that did not verify
    COMMITS = "Commits"  # Count: commits pushed through the API (or found landed on a retry)
    COMMIT_CONFLICTS = "CommitConflicts"  # Count: commits refused: the branch was elsewhere


@dataclass(frozen=True)
class Telemetry:
    """How this process reports (bootstrap builds it from Settings)."""

    service: str = "strata"
    namespace: str = "Strata"
    log_level: str | int = "INFO"
    log_format: Literal["json", "human"] = "json"
    tracing: bool = False


class HumanFormatter(LambdaPowertoolsFormatter):
    """The record Powertools builds, as one line: time, level, logger, message, then the keys
    (`repositoryId=… jobId=…`); a traceback follows on the next lines."""

    _NOT_KEYS = frozenset(
        {"level", "location", "message", "timestamp", "service", "name", "sampling_rate"}
        | {"exception", "exception_name", "exception_notes", "stack_trace", "xray_trace_id"}
        | {"function_arn", "function_memory_size", "function_request_id", "cold_start"}
    )

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S", serialize_stacktrace=False, name="%(name)s")

    def serialize(self, log: Mapping[str, Any]) -> str:
        keys = " ".join(f"{k}={v}" for k, v in log.items() if k not in self._NOT_KEYS)
        line = f"{log['timestamp']} {log['level']} {log.get('name')}: {log['message']}"
        line += f"  [{keys}]" if keys else ""
        return f"{line}\n{log['exception']}" if log.get("exception") else line


class _Stream:
    """sys.stdout or sys.stderr as they are at each write: pytest's capsys swaps them."""

    def __init__(self, name: Literal["stdout", "stderr"]) -> None:
        self._name = name

    def write(self, text: str) -> int:
        return int(getattr(sys, self._name).write(text))

    def flush(self) -> None:
        getattr(sys, self._name).flush()


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    logger: Logger | None = None
    applied: Telemetry | None = None
    pinned: bool = False  # configure_console: invocations keep the local console's setup
    console: logging.Handler | None = None
    tracer: Tracer | None = None
    cold: bool = True


_state = _State()
_metrics: ContextVar[EphemeralMetrics | None] = ContextVar("strata_metrics", default=None)


def configure(telemetry: Telemetry) -> None:
    """Route `chalicelib` logs through the Powertools Logger in `telemetry`'s format and level,
    and start tracing if asked. Safe to call again (tests, a changed setting)."""
    with _state.lock:
        logger = _state.logger or Logger(service=PACKAGE, level=telemetry.log_level)
        _state.logger = logger
        handler = logger.registered_handler
        human = telemetry.log_format == "human"
        formatter = HumanFormatter() if human else _json_formatter(telemetry.service)
        handler.setFormatter(formatter)
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(_Stream("stderr" if human else "stdout"))
        logger.setLevel(telemetry.log_level)
        for name in WIRE_LOGGERS:
            wire = logging.getLogger(name)
            wire.setLevel(max(wire.getEffectiveLevel(), logging.INFO))
        if telemetry.tracing and _state.tracer is None:
            _state.tracer = Tracer(
                service=telemetry.service, disabled=False, patch_modules=PATCHED_MODULES
            )
        _state.applied = telemetry


def configure_console(level: int | str) -> None:
    """The local stack's console (`strata serve`): human lines on stderr for every logger at
    `level`, Strata's with their keys; later invocations keep this setup until `reset()`."""
    configure(Telemetry(log_level=level, log_format="human"))
    root = logging.getLogger()
    with _state.lock:
        if _state.console is not None:
            root.removeHandler(_state.console)
        console = logging.StreamHandler(_Stream("stderr"))
        console.setFormatter(HumanFormatter())
        console.addFilter(SuppressFilter(PACKAGE))  # printed by the `chalicelib` logger
        root.addHandler(console)
        root.setLevel(level)
        _state.console = console
        _state.pinned = True


def reset() -> None:
    """Undo `configure_console`; the next invocation configures from its Telemetry again."""
    with _state.lock:
        if _state.console is not None:
            logging.getLogger().removeHandler(_state.console)
        _state.console = None
        _state.pinned = False
        _state.applied = None


def use_tracer(tracer: Tracer | None) -> None:
    """Trace with this Tracer (tests hand one a recording provider); None stops tracing."""
    _state.tracer = tracer


def tracing() -> bool:
    return _state.tracer is not None


def append_keys(**keys: object) -> None:
    """Add keys to every log line of the current invocation or record, and as annotations to
    its trace subsegment (None values are skipped)."""
    given = {k: v for k, v in keys.items() if v is not None}
    if _state.logger is not None:
        _state.logger.thread_safe_append_keys(**given)
    _annotate(**given)


def count(metric: Metric, value: float = 1) -> None:
    _add(metric, MetricUnit.Count, value)


def seconds(metric: Metric, value: float) -> None:
    _add(metric, MetricUnit.Seconds, max(0.0, value))


def _add(metric: Metric, unit: MetricUnit, value: float) -> None:
    metrics = _metrics.get()
    if metrics is not None:  # outside an invocation (unit tests, tools) nothing is reported
        metrics.add_metric(name=metric.value, unit=unit, value=value)


def traced(fn: F) -> F:
    """A subsegment per call while tracing (Tracer.capture_method, without the response or the
    error as metadata); a plain call otherwise."""
    captured: dict[int, Callable[..., Any]] = {}

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        tracer = _state.tracer
        if tracer is None:
            return fn(*args, **kwargs)
        wrapped = captured.get(id(tracer))
        if wrapped is None:
            capture = tracer.capture_method(capture_response=False, capture_error=False)
            wrapped = capture(fn)
            captured[id(tracer)] = wrapped
        return wrapped(*args, **kwargs)

    return cast(F, call)


@contextmanager
def scope(name: str, **keys: object) -> Iterator[None]:
    """One unit of work inside an invocation (an SQS record): `keys` and whatever is appended
    meanwhile are on its log lines until it ends; its own subsegment, annotated with them."""
    logger = _state.logger
    before = dict(logger.thread_safe_get_current_keys()) if logger else {}
    try:
        with _subsegment(name):
            append_keys(**keys)
            yield
    finally:
        if logger is not None:
            logger.thread_safe_clear_keys()
            logger.thread_safe_append_keys(**before)


@contextmanager
def invocation(telemetry: Telemetry, context: Any = None, **keys: object) -> Iterator[None]:
    """One Lambda invocation: configured logging, fresh keys (the Lambda context's and
    `keys`), a metric set flushed at the end, a subsegment."""
    _ensure_configured(telemetry)
    cold, _state.cold = _state.cold, False
    lambda_keys = (
        build_lambda_context_model(context).__dict__
        if hasattr(context, "aws_request_id")  # None offline: no Lambda context
        else {}
    )
    function = str(lambda_keys.get("function_name") or "local")
    metrics = EphemeralMetrics(
        namespace=telemetry.namespace,
        service=telemetry.service,
        default_dimensions={"function": function},
    )
    if lambda_keys:  # joins the EMF document to the invocation's log lines
        metrics.add_metadata(key="function_request_id", value=lambda_keys["function_request_id"])
    token = _metrics.set(metrics)
    if _state.logger is not None:
        _state.logger.thread_safe_clear_keys()  # nothing left over from other work
    try:
        with scope(function, **lambda_keys, cold_start=cold, **keys):
            _annotate(ColdStart=cold, Service=telemetry.service)
            try:
                yield
            finally:
                _flush(metrics)  # within the scope: a human summary carries its keys
    finally:
        _metrics.reset(token)


def middleware(telemetry: Callable[[], Telemetry]) -> Callable[[Any, Callable[[Any], Any]], Any]:
    """Chalice middleware for every event type (`app.register_middleware(..., "all")`)."""

    def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
        # A Chalice Request holds the Lambda context in `lambda_context` and API Gateway's
        # request context in `context`; every other Chalice event holds the Lambda context.
        if not hasattr(event, "lambda_context"):
            with invocation(telemetry(), event.context):
                return get_response(event)
        lambda_context = event.lambda_context
        request_id = event.context.get("requestId") or getattr(
            lambda_context, "aws_request_id", None
        )
        route = f"{event.method} {event.path}"  # the route's template: no ids, no query
        with invocation(telemetry(), lambda_context, requestId=request_id, route=route):
            response = get_response(event)
            log.info("%s answered %s", route, getattr(response, "status_code", "?"))
            return response

    return observe


def _ensure_configured(telemetry: Telemetry) -> None:
    if not _state.pinned and _state.applied != telemetry:
        configure(telemetry)


def _json_formatter(service: str) -> LambdaPowertoolsFormatter:
    return LambdaPowertoolsFormatter(utc=True, use_rfc3339=True, service=service, name="%(name)s")


def _flush(metrics: EphemeralMetrics) -> None:
    if not metrics.metric_set:
        return  # flush_metrics would warn: most API requests measure nothing
    if _state.applied is not None and _state.applied.log_format == "human":
        shown = ", ".join(
            f"{name}={'+'.join(f'{v:g}' for v in m['Value'])} {m['Unit']}"
            for name, m in metrics.metric_set.items()
        )
        log.info("metrics: %s", shown)
        metrics.clear_metrics()
        return
    metrics.flush_metrics()  # one EMF document on stdout


@contextmanager
def _subsegment(name: str) -> Iterator[None]:
    tracer = _state.tracer
    with ExitStack() as stack:
        if tracer is not None:
            stack.enter_context(tracer.provider.in_subsegment(name=f"## {name}"))
        yield


def _annotate(**annotations: object) -> None:
    tracer = _state.tracer
    if tracer is None:
        return
    for key, value in annotations.items():
        if key in ANNOTATED and isinstance(value, str | bool | int | float):
            tracer.put_annotation(key=key, value=cast(Any, value))
