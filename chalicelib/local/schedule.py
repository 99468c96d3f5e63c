"""The schedule on a timer: what EventBridge rules do for the app's `@app.schedule` handlers.

Handlers are discovered from the app's event sources, so a scheduled handler added later is
picked up without touching this module. Only `rate(N minute[s]|hour[s]|day[s])` is understood;
any other expression (cron) is logged and skipped. Like EventBridge, a rule first fires one
period after the stack starts; each run gets a scheduled-event payload and a Lambda context.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalice.app import ScheduledEventConfig

from chalicelib.local.pump import LambdaContext

log = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
SCHEDULE_TIMEOUT_SECONDS = 900.0


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs for a rate() expression; None for anything else."""
    match = _RATE.match(expression.strip())
    if not match or int(match.group(1)) < 1:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).removesuffix("s")]


@dataclass(frozen=True)
class Rule:
    name: str
    expression: str
    period_seconds: float
    handler: Callable[[dict[str, Any], Any], Any]


def scheduled_rules(app: Any) -> list[Rule]:
    """The app's scheduled handlers that have a rate we understand."""
    rules = []
    for source in getattr(app, "event_sources", []):
        if not isinstance(source, ScheduledEventConfig):
            continue
        expression = source.schedule_expression
        text = expression if isinstance(expression, str) else expression.to_string()
        period = rate_seconds(text)
        if period is None:
            log.warning("schedule %s: %r is not a rate(); skipped locally", source.name, text)
            continue
        rules.append(Rule(source.name, text, period, app.handler_map[source.name]))
    return rules


def scheduled_event(rule: Rule, region: str, now: float) -> dict[str, Any]:
    when = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when,
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule.name}"],
        "detail": {},
    }


class Scheduler:
    """Runs each rule every period, from a thread, until its stop event is set."""

    def __init__(self, rules: list[Rule], region: str, stop: threading.Event) -> None:
        self._rules = rules
        self._region = region
        self._stop = stop
        self._due: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    def plan(self, now: float) -> None:
        """Each rule is first due one period after `now`."""
        self._due = {r.name: now + r.period_seconds for r in self._rules}

    def start(self) -> None:
        self.plan(time.time())
        if self._rules:
            self._thread = threading.Thread(target=self._loop, name="strata-schedule", daemon=True)
            self._thread.start()

    def tick(self, now: float) -> list[str]:
        """Run every rule that is due at `now`; returns their names."""
        ran = []
        for rule in self._rules:
            if self._due.get(rule.name, now) <= now:
                self._due[rule.name] = now + rule.period_seconds
                self._run(rule, now)
                ran.append(rule.name)
        return ran

    def _run(self, rule: Rule, now: float) -> None:
        context = LambdaContext(rule.name, SCHEDULE_TIMEOUT_SECONDS, stop=self._stop)
        try:
            rule.handler(scheduled_event(rule, self._region, now), context)
        except Exception:  # keep the timer alive: the next period runs regardless
            log.exception("scheduled handler %s failed", rule.name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick(time.time())
            next_due = min(self._due.values())
            self._stop.wait(max(0.05, min(1.0, next_due - time.time())))

    def join(self, timeout: float) -> bool:
        """Wait for the timer thread after stop; True when it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()
