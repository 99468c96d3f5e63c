"""The error tree's retry axis: what the SQS handlers read to retry or acknowledge."""

from __future__ import annotations

import inspect

from chalicelib import errors
from chalicelib.services.job_endings import PERMANENT

ALL = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.StrataError)
]


def test_every_permanent_error_and_nothing_else_is_not_retryable() -> None:
    permanent = {cls for cls in ALL if cls.retryable is False}
    assert permanent == {cls for cls in ALL if issubclass(cls, PERMANENT)}


def test_transient_conflicts_waits_and_rates_are_retryable() -> None:
    for cls in (errors.TransientError, errors.LeaseHeld, errors.NotReady, errors.RateLimited):
        assert cls.retryable is True, cls


def test_an_unclassified_error_is_neither() -> None:
    assert errors.StrataError.retryable is None
    assert errors.Unauthenticated.retryable is None


def test_not_ready_can_carry_the_wait_the_202_reports() -> None:
    assert errors.NotReady("indexing", "indexing", estimated_seconds=12).estimated_seconds == 12
    assert errors.NotReady("idle", "idle").estimated_seconds is None
