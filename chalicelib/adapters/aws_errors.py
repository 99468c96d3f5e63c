"""Translate botocore failures into Strata errors: one table for every boto3 adapter."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import NotFound, PermanentError, StrataError, TransientError

_NOT_FOUND = {
    "NoSuchKey",
    "NoSuchBucket",
    "404",
    "NotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ResourceNotFoundException",
}
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "RequestLimitExceeded",
    "KMSInternalException",
    "ProvisionedThroughputExceededException",
    "ConditionalRequestConflict",
}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, what: str) -> StrataError:
    """A StrataError for a botocore exception; callers `raise translate(e, ...) from e`."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _NOT_FOUND or status == 404:
            return NotFound(f"{what}: not found")
        if code in _TRANSIENT or status >= 500 or status == 429:
            return TransientError(f"{what}: {code or status}, retry later")
        return PermanentError(f"{what}: {code or status}")
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{what}: {type(exc).__name__}")
    return TransientError(f"{what}: {type(exc).__name__}")
