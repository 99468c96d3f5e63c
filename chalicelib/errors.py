"""Strata's exception tree. Every layer raises these; only `api/` maps them to HTTP.

    StrataError
    ├── InvalidRequest            the client sent something we refuse (400)
    │   ├── PayloadTooLarge       body over the configured cap (413)
    │   ├── IdempotencyKeyReused  an Idempotency-Key sent again with another request (422)
    │   └── RemoteRefused         the remote is not allowed or cannot be reached (one generic
    │                             message for every case: no host, address or path)
    ├── NotFound                  a named thing does not exist (404)
    │   ├── ConnectionGone        a WebSocket connection API Gateway no longer knows (410)
    │   └── RemoteNotFound        the git remote or branch does not exist
    │       ├── BranchNotFound    the branch is not on the remote
    │       └── CommitNotOnBranch the requested commit is not on the branch (carries its head)
    ├── Unauthenticated           the caller did not prove who it is (no, bad or revoked API
    │                             key; bad webhook signature) (401)
    ├── AccessDenied              not allowed: the key's scope is too low, or git credentials
    │   │                         were refused (403)
    │   └── QuotaExceeded         a registration would pass one of the tenant's caps (403)
    ├── RateLimited               the key sent more requests than its rate allows (429; carries
    │                             retry_after, whole seconds >= 1)
    ├── Conflict                  a precondition on shared state did not hold (409)
    │   ├── LeaseHeld             another worker holds the repository lease
    │   ├── LeaseLost             our lease expired or was taken over (stale fence)
    │   ├── AlreadyExists         an immutable object exists already
    │   └── BranchMoved           a compare-and-swap push found the branch elsewhere
    │                             (carries current_sha, the branch head when known)
    ├── NotReady                  the repository has no generation to serve yet
    ├── TransientError            retry later (SQS redelivery, then the DLQ) (503)
    │   ├── RemoteUnreachable     an allowed remote did not answer (RemoteRefused's text)
    │   ├── DeadlineReached       the function must stop before its deadline
    │   └── ModelUnavailable      the answer model failed, timed out or was throttled (503
    │                             with Retry-After; carries retry_after, whole seconds >= 1)
    └── PermanentError            retrying cannot help; record the failure, acknowledge
        ├── MalformedMessage      a queue message we cannot decode
        └── RepositoryUnreadable  the repository cannot be indexed as it is (a shallow clone,
                                  missing objects)

The retry axis, read by the SQS handlers (workers/sqs_batch.py) instead of a list of types:
`retryable` is True where a later attempt can succeed (TransientError, Conflict, NotReady,
RateLimited: the message is redelivered, then dead-lettered), False where it cannot
(PermanentError, InvalidRequest, NotFound, AccessDenied: record the failure, acknowledge),
and None where nobody decided (Unauthenticated, a bare StrataError): handled as a bug,
retried and logged as an exception.

`NotReady` carries the repository status so a query route can answer 202 or 400, and may
carry `estimated_seconds`, the wait the 202 reports (the boundary reads the store for it
only when the raiser did not know it).
No SDK types appear here: adapters translate (`raise NotFound(...) from exc`).
The messages of BranchNotFound, CommitNotOnBranch and RepositoryUnreadable are written for
users (no path, URL, key, token or library text): they are stored as a repository's `error`.
"""

from __future__ import annotations


def is_permanent(exc: BaseException) -> bool:
    """True for an error that a retry cannot fix (the retry axis says so)."""
    return isinstance(exc, StrataError) and exc.retryable is False


class StrataError(Exception):
    """Base of every error Strata raises on purpose."""

    code = "error"
    retryable: bool | None = None  # the retry axis (module docstring)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(StrataError):
    code = "invalid_request"
    retryable = False


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"


class RemoteRefused(InvalidRequest):
    code = "remote_refused"


class NotFound(StrataError):
    code = "not_found"
    retryable = False


class RemoteNotFound(NotFound):
    code = "remote_not_found"


class ConnectionGone(NotFound):
    """A WebSocket connection that API Gateway no longer knows (410): its listener is pruned."""

    code = "connection_gone"


class Unauthenticated(StrataError):
    code = "unauthenticated"


class AccessDenied(StrataError):
    code = "access_denied"
    retryable = False


class QuotaExceeded(AccessDenied):
    code = "quota_exceeded"


class RateLimited(StrataError):
    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Conflict(StrataError):
    code = "conflict"
    retryable = True


class LeaseHeld(Conflict):
    code = "lease_held"


class LeaseLost(Conflict):
    code = "lease_lost"


class AlreadyExists(Conflict):
    code = "already_exists"


class BranchMoved(Conflict):
    """A push that had to find the branch at one commit found it at another (`current_sha`;
    None when the remote did not say, or the branch is gone): nothing was changed."""

    code = "branch_moved"

    def __init__(self, message: str, current_sha: str | None = None) -> None:
        super().__init__(message)
        self.current_sha = current_sha


class NotReady(StrataError):
    code = "not_ready"
    retryable = True

    def __init__(self, message: str, status: str, *, estimated_seconds: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.estimated_seconds = estimated_seconds


class TransientError(StrataError):
    code = "unavailable"
    retryable = True


class RemoteUnreachable(TransientError):
    """An allowed remote did not answer (connection failed or timed out): retried. Its text
    is the same as RemoteRefused's, so an answer never tells a closed port from a refusal."""

    code = "remote_unreachable"


class DeadlineReached(TransientError):
    code = "deadline_reached"


class ModelUnavailable(TransientError):
    """The language model behind chat did not answer (timeout, throttling, an error): the
    question may be asked again after `retry_after` seconds. The message names no endpoint
    and no credential."""

    code = "model_unavailable"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class PermanentError(StrataError):
    code = "permanent_failure"
    retryable = False


class MalformedMessage(PermanentError):
    code = "malformed_message"


class BranchNotFound(RemoteNotFound):
    code = "branch_not_found"


class CommitNotOnBranch(RemoteNotFound):
    """`branch_head` is the branch's head on the remote when known (None otherwise)."""

    code = "commit_not_on_branch"

    def __init__(self, message: str, branch_head: str | None = None) -> None:
        super().__init__(message)
        self.branch_head = branch_head


class RepositoryUnreadable(PermanentError):
    code = "repository_unreadable"
