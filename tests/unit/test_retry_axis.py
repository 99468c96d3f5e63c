"""The error tree's retry axis: what the SQS handlers read to retry or acknowledge."""

from __future__ import annotations

import inspect

from chalicelib import errors

ALL = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.StrataError)
]


def test_the_errors_a_retry_cannot_fix_are_the_refusals_and_the_permanent_ones() -> None:
    permanent = {cls for cls in ALL if cls.retryable is False}
    cannot_succeed = (
        errors.PermanentError,
        errors.NotFound,
        errors.AccessDenied,
        errors.InvalidRequest,
    )
    assert permanent == {cls for cls in ALL if issubclass(cls, cannot_succeed)}


def test_is_permanent_reads_the_axis_not_the_type() -> None:
    assert errors.is_permanent(errors.RemoteNotFound("gone"))
    assert errors.is_permanent(errors.RepositoryUnreadable("shallow"))
    assert not errors.is_permanent(errors.LeaseLost("taken over"))
    assert not errors.is_permanent(errors.TransientError("later"))
    assert not errors.is_permanent(errors.Unauthenticated("who?"))  # undecided: a bug
    assert not errors.is_permanent(ValueError("not ours"))


def test_transient_conflicts_waits_and_rates_are_retryable() -> None:
    for cls in (errors.TransientError, errors.LeaseHeld, errors.NotReady, errors.RateLimited):
        assert cls.retryable is True, cls


def test_an_unclassified_error_is_neither() -> None:
    assert errors.StrataError.retryable is None
    assert errors.Unauthenticated.retryable is None


def test_not_ready_can_carry_the_wait_the_202_reports() -> None:
    assert errors.NotReady("indexing", "indexing", estimated_seconds=12).estimated_seconds == 12
    assert errors.NotReady("idle", "idle").estimated_seconds is None
