"""Observability in-process: what Settings turn on, metric flushing, per-thread log keys, the
local console's human lines, and the pure push-lag rule. End-to-end runs on moto are in
tests/e2e/test_observability.py."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import observability
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.freshness import push_received_at
from chalicelib.local.serve import configure_logging
from chalicelib.observability import Metric, Telemetry
from chalicelib.settings import Settings

JSON = Telemetry(log_format="json", namespace="StrataTest")
LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "strata-dev-index_worker"}
log = logging.getLogger("chalicelib.services.example")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    names = ("", "chalicelib", "strata.http", "urllib3.connectionpool")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    observability.reset()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def json_docs(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_tracing_is_on_only_in_a_deployed_function_without_powertools_trace_disabled() -> None:
    assert Settings.from_env({}).tracing is False
    assert Settings.from_env(LAMBDA).tracing is True
    assert Settings.from_env({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}).tracing is False
    assert Settings.from_env({**LAMBDA, "AWS_CHALICE_CLI_MODE": "true"}).tracing is False
    assert Settings().tracing is False


def test_logs_are_json_in_lambda_and_human_elsewhere_with_powertools_names() -> None:
    local = Settings.from_env({})
    assert (local.log_format, local.log_level) == ("human", "WARNING")
    assert Settings.from_env(LAMBDA).log_level == "INFO"
    deployed = Settings.from_env(
        {
            **LAMBDA,
            "POWERTOOLS_SERVICE_NAME": "strata-prod",
            "POWERTOOLS_METRICS_NAMESPACE": "StrataProd",
            "POWERTOOLS_LOG_LEVEL": "debug",
        }
    )
    assert (deployed.log_format, deployed.service_name) == ("json", "strata-prod")
    assert (deployed.metrics_namespace, deployed.log_level) == ("StrataProd", "DEBUG")
    assert Settings.from_env({"STRATA_LOG_FORMAT": "JSON"}).log_format == "json"


def test_an_invocation_prints_one_emf_document_only_when_it_measured_something(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.count(Metric.INDEX_REQUESTS)  # outside an invocation: nothing to report to
    with observability.invocation(JSON):
        pass  # flushing nothing neither prints nor warns (warnings are errors here)
    assert json_docs(capsys.readouterr().out) == []
    with observability.invocation(JSON):
        observability.count(Metric.BATCH_FAILURES, 0)
        observability.seconds(Metric.INDEX_DURATION, 2.5)
    (doc,) = json_docs(capsys.readouterr().out)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "StrataTest"
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "BatchFailures": "Count",
        "IndexDuration": "Seconds",
    }
    assert (doc["BatchFailures"], doc["IndexDuration"]) == ([0.0], [2.5])
    assert (doc["function"], doc["service"]) == ("local", "strata")


def test_each_thread_logs_its_own_keys(capsys: pytest.CaptureFixture[str]) -> None:
    both_keyed = threading.Barrier(2)

    def work(rid: str) -> None:
        with observability.invocation(JSON, requestId=f"request-{rid}"):
            with observability.scope("record", jobId=f"job-{rid}"):
                observability.append_keys(repositoryId=rid)
                both_keyed.wait(5)  # the other thread has set its keys too
                log.warning("working on %s", rid)
            log.warning("done with %s", rid)

    threads = [threading.Thread(target=work, args=(rid,)) for rid in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    lines = [d for d in json_docs(capsys.readouterr().out) if "message" in d]
    working = {d["message"][-1]: d for d in lines if d["message"].startswith("working")}
    done = {d["message"][-1]: d for d in lines if d["message"].startswith("done")}
    for rid in ("a", "b"):
        assert (working[rid]["repositoryId"], working[rid]["jobId"]) == (rid, f"job-{rid}")
        assert working[rid]["requestId"] == done[rid]["requestId"] == f"request-{rid}"
        assert "jobId" not in done[rid] and "repositoryId" not in done[rid]  # scope ended


def test_the_local_console_prints_each_line_once_as_a_human_line_with_its_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.configure_console(logging.INFO)
    with observability.invocation(JSON, requestId="req-1"):  # the console's format stays
        with observability.scope("record", messageId="msg-1"):
            observability.append_keys(repositoryId="local:/shop", jobId="job-1")
            log.info("planned %d files", 3)
            observability.count(Metric.BLOBS_PARSED, 3)
        log.info("record done")
        logging.getLogger("botocore.example").warning("a library's warning")
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""  # no JSON, no EMF on the console's stdout
    planned, done, library, metrics = lines
    assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in lines)
    assert planned.split(" ", 1)[1] == (
        "INFO chalicelib.services.example: planned 3 files"
        "  [requestId=req-1 messageId=msg-1 repositoryId=local:/shop jobId=job-1]"
    )
    assert done.split(" ", 1)[1] == (
        "INFO chalicelib.services.example: record done  [requestId=req-1]"
    )
    assert library.split(" ", 1)[1].startswith("WARNING botocore.example: a library's warning")
    assert metrics.split(" ", 1)[1] == (
        "INFO chalicelib.observability: metrics: BlobsParsed=3 Count  [requestId=req-1]"
    )


@pytest.mark.parametrize("verbose", [True, False])
def test_strata_serve_shows_info_lines_only_when_verbose(
    verbose: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(verbose)
    log.info("an info line")
    log.warning("a warning line")
    err = capsys.readouterr().err
    assert ("an info line" in err) is verbose
    assert err.count("a warning line") == 1


def test_push_lag_starts_at_the_first_delivery_that_pushed_the_sha() -> None:
    def event(at: float, type: str, after: str) -> Event:
        return Event("github:acme:widgets", f"{at}", type, at, {"after": after})

    events = [
        event(30.0, EventType.WEBHOOK_RECEIVED, "b" * 40),  # a redelivery, later
        event(20.0, EventType.INDEX_REQUESTED, "b" * 40),
        event(10.0, EventType.WEBHOOK_RECEIVED, "b" * 40),
        event(5.0, EventType.WEBHOOK_RECEIVED, "a" * 40),
    ]
    assert push_received_at(events, "b" * 40) == 10.0
    assert push_received_at(events, "c" * 40) is None
