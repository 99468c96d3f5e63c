"""Translate pynamodb/botocore failures into Strata's errors at the DynamoDB boundary.

Condition failures mean different things per operation, so callers test
`is_condition_failure()` first; everything else goes through `translate()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib.errors import PermanentError, StrataError, TransientError

CONDITION_FAILED = "ConditionalCheckFailedException"
CONDITION_FAILED_REASON = "ConditionalCheckFailed"  # the same, as a cancellation reason
TRANSACTION_CANCELED = "TransactionCanceledException"

# Codes worth a retry (then the DLQ): throttling, contention and server-side hiccups.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "LimitExceededException",
        # Cancellation reason codes inside a TransactionCanceledException.
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
)

# Everything the SDKs raise at this boundary; none of it may escape an adapter.
DYNAMO_ERRORS = (PynamoDBException, BotoCoreError, ClientError)


def error_code(exc: BaseException) -> str | None:
    """The DynamoDB error code behind a pynamodb or botocore exception, if there is one."""
    if isinstance(exc, PynamoDBException):
        return exc.cause_response_code
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _reason_codes(exc: BaseException) -> set[str]:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return {reason.code for reason in reasons if reason is not None}


def is_condition_failure(exc: BaseException) -> bool:
    """A conditional write (or a condition inside a transaction) did not hold."""
    code = error_code(exc)
    if code == CONDITION_FAILED:
        return True
    if code != TRANSACTION_CANCELED:
        return False
    # Items that did not cause the cancellation have no reason (or the code "None").
    codes = _reason_codes(exc) - {"None"}
    return bool(codes) and codes <= {CONDITION_FAILED_REASON, CONDITION_FAILED}


def translate(exc: BaseException, what: str) -> StrataError:
    """A Strata error for an unexpected failure of `what` (e.g. "update repository x")."""
    code = error_code(exc)
    if code == TRANSACTION_CANCELED and _reason_codes(exc) & TRANSIENT_CODES:
        return TransientError(f"DynamoDB transaction conflict: {what}")
    if code is None or code in TRANSIENT_CODES:
        # No code: a connection, timeout or retry-exhaustion error from botocore.
        return TransientError(f"DynamoDB unavailable: {what}: {code or type(exc).__name__}")
    return PermanentError(f"DynamoDB refused: {what}: {code}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Let no pynamodb or botocore exception escape from the block."""
    try:
        yield
    except DYNAMO_ERRORS as exc:
        raise translate(exc, what) from exc
