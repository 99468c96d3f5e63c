"""The schedule timer: scheduled handlers discovered from the app, run on their rate."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from chalice.app import Chalice, Rate, ScheduledEventConfig

from chalicelib import bootstrap
from chalicelib.domain.models import Repository
from chalicelib.local.schedule import Rule, Scheduler, rate_seconds, scheduled_rules
from chalicelib.settings import Settings
from tests.e2e.conftest import Stack
from tests.gitrepo import commit_files, init_repo

RID = "github:acme:widgets"  # a github id (the sweep skips local ones) read from a local path
FILES = {"README.md": "# Widgets\n"}


def status(stack: Stack) -> dict[str, Any]:
    body: dict[str, Any] = stack.get(f"/repositories/{RID}/status").json_body
    return body


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(0 minutes)", None),
        ("rate(1 week)", None),
        ("cron(0 12 * * ? *)", None),
    ],
)
def test_understands_rate_expressions_only(expression: str, seconds: int | None) -> None:
    assert rate_seconds(expression) == seconds


def _app(calls: list[Any]) -> Chalice:
    app = Chalice(app_name="scheduled")

    @app.schedule(Rate(5, unit=Rate.MINUTES), name="sweep")
    def sweep(event: Any) -> None:
        calls.append(event)

    @app.schedule("cron(0 12 * * ? *)", name="noon")
    def noon(event: Any) -> None:
        calls.append("noon")

    return app


def test_discovers_scheduled_handlers_and_skips_cron(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chalicelib.local.schedule"):
        rules = scheduled_rules(_app([]))
    assert [(r.name, r.expression, r.period_seconds) for r in rules] == [
        ("sweep", "rate(5 minutes)", 300)
    ]
    assert "noon" in caplog.text and "skipped" in caplog.text


def test_strata_app_schedules_are_all_understood_and_fire(stack: Stack, tmp_path: Path) -> None:
    from app import app

    every = scheduled_rules(app)
    declared = {s.name for s in app.event_sources if isinstance(s, ScheduledEventConfig)}
    assert [rule.name for rule in every] == ["refresh_sweep", "events_archiver"]
    assert declared == {"refresh_sweep", "events_archiver"}  # none skipped as not understood
    archiver = next(r for r in every if r.name == "events_archiver")
    assert archiver.period_seconds == Settings.from_env().archive_minutes * 60
    rules = [r for r in every if r.name == "refresh_sweep"]  # the archiver: test_event_replay.py
    period = Settings.from_env().sweep_minutes * 60  # what the deployed rule is built with
    assert rules[0].period_seconds == period

    path = tmp_path / "widgets"
    registered = Repository(id=RID, remote=str(path), branch="main")
    bootstrap.index_requests().request_at(registered, init_repo(path, FILES), source="api")
    stack.pump.drain()
    moved = commit_files(path, {"README.md": "# Widgets, moved on\n"})
    scheduler = Scheduler(rules, stack.settings.region, threading.Event())
    scheduler.plan(1000.0)
    assert scheduler.tick(1000.0 + period - 1) == []
    assert status(stack)["headSha"] != moved

    assert scheduler.tick(1000.0 + period) == ["refresh_sweep"]

    fired = status(stack)  # the sweep saw the remote move and asked for an index
    assert (fired["status"], fired["headSha"]) == ("indexing", moved)
    stack.pump.drain()
    assert status(stack)["indexedSha"] == moved


def test_runs_each_rule_once_per_period_with_a_scheduled_event() -> None:
    calls: list[Any] = []
    scheduler = Scheduler(scheduled_rules(_app(calls)), "us-east-1", threading.Event())
    scheduler.plan(1000.0)
    assert scheduler.tick(1299.0) == []
    assert scheduler.tick(1300.0) == ["sweep"]
    assert scheduler.tick(1301.0) == []
    assert scheduler.tick(1600.0) == ["sweep"]
    event = calls[0]
    assert (event.detail_type, event.source, event.region) == (
        "Scheduled Event",
        "aws.events",
        "us-east-1",
    )
    assert event.resources == ["arn:aws:events:us-east-1:123456789012:rule/sweep"]


def test_the_timer_survives_a_failing_handler_and_stops_on_its_event() -> None:
    runs: list[int] = []
    ran_twice = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> None:
        runs.append(1)
        if len(runs) >= 2:
            ran_twice.set()
        raise RuntimeError("a broken sweep")

    stop = threading.Event()
    scheduler = Scheduler([Rule("flaky", "rate(1 minute)", 0.05, handler)], "us-east-1", stop)
    scheduler.start()
    try:
        assert ran_twice.wait(10)
    finally:
        stop.set()
    assert scheduler.join(5)
