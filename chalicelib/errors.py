"""Strata's exception tree. Every layer raises these; only `api/` maps them to HTTP.

    StrataError
    ├── InvalidRequest            the client sent something we refuse (400)
    │   └── PayloadTooLarge       body over the configured cap (413)
    ├── NotFound                  a named thing does not exist (404)
    │   └── RemoteNotFound        the git remote or branch does not exist
    ├── Unauthenticated           the caller did not prove who it is (bad webhook signature) (401)
    ├── AccessDenied              credentials missing or refused (403)
    ├── Conflict                  a precondition on shared state did not hold (409)
    │   ├── LeaseHeld             another worker holds the repository lease
    │   ├── LeaseLost             our lease expired or was taken over (stale fence)
    │   └── AlreadyExists         an immutable object exists already
    ├── NotReady                  the repository has no generation to serve yet
    ├── TransientError            retry later (SQS redelivery, then the DLQ)
    │   └── DeadlineReached       the function must stop before its deadline
    └── PermanentError            retrying cannot help; record the failure, acknowledge
        └── MalformedMessage      a queue message we cannot decode

`NotReady` carries the repository status so the chat route can answer 202 or 400.
No SDK types appear here: adapters translate (`raise NotFound(...) from exc`).
"""

from __future__ import annotations


class StrataError(Exception):
    """Base of every error Strata raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(StrataError):
    code = "invalid_request"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class NotFound(StrataError):
    code = "not_found"


class RemoteNotFound(NotFound):
    code = "remote_not_found"


class Unauthenticated(StrataError):
    code = "unauthenticated"


class AccessDenied(StrataError):
    code = "access_denied"


class Conflict(StrataError):
    code = "conflict"


class LeaseHeld(Conflict):
    code = "lease_held"


class LeaseLost(Conflict):
    code = "lease_lost"


class AlreadyExists(Conflict):
    code = "already_exists"


class NotReady(StrataError):
    code = "not_ready"

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class TransientError(StrataError):
    code = "unavailable"


class DeadlineReached(TransientError):
    code = "deadline_reached"


class PermanentError(StrataError):
    code = "permanent_failure"


class MalformedMessage(PermanentError):
    code = "malformed_message"
