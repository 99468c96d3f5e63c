"""Use case: a client commits changes to a branch of a repository it may see (ADR 22).

1. The repository must be one the caller may see (domain/tenancy.py), else NotFound; the
   request must meet domain/commits.py's rules, else InvalidRequest, before anything else.
2. With an Idempotency-Key, the key is claimed (scope: the repository and the caller's
   tenant): a key already answered is answered the same (`replayed`), a key sent with
   another request is IdempotencyKeyReused (422).
3. With `check`, the changed files go through the in-process syntax check: errors answer
   `check_failed` (422) and nothing is committed. A `build` check also queues a build check
   of the new commit once it landed (the toolchains run in the check workers, not here).
4. Under the branch's commit lease (a lock item of its own, so commits neither wait for
   nor hold back indexing), services/commit_push.py reads the head, builds the commit,
   checks the fence and pushes with compare-and-swap; the lease waits a bounded time for
   another commit to the branch, then answers 503 (retry).
5. The answer is kept in the key's record before it is returned.

Failures: before the commit about to be pushed was noted in the record, a failure forgets the
record (a retry starts afresh); after it, the record stays, and the next attempt with the
same key takes it over and finds out from the branch whether that push landed. Credentials
for the remote: the caller's tenant's stored token (sealed), then anonymous, then the
server token for an admin caller and a remote in its scope (domain/credentials.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.commit_outcomes import (
    CommitOutcome,
    check_failed,
    decode_outcome,
    encode_outcome,
)
from chalicelib.domain.commits import (
    Author,
    CommitLimits,
    CommitRequest,
    RawChange,
    fingerprint,
    validate_commit,
)
from chalicelib.domain.credentials import ServerToken, request_credentials
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.idempotency import IdempotencyRecord, validate_idempotency_key
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import validate_repository_id
from chalicelib.domain.models import Lease, Repository
from chalicelib.domain.tenancy import visible
from chalicelib.errors import (
    IdempotencyKeyReused,
    InvalidRequest,
    LeaseHeld,
    NotFound,
    TransientError,
)
from chalicelib.parsers.syntax import syntax_diagnostics
from chalicelib.ports import IdempotencyStore
from chalicelib.services.commit_push import Attempt, CommitPush

log = logging.getLogger(__name__)

BUSY = "another commit to this branch is under way; retry"
NO_BUILD = "build checks are not available in this deployment"
Syntax = Callable[[str, bytes], list[Diagnostic]]


@dataclass(frozen=True)
class CommitConfig:
    limits: CommitLimits = field(default_factory=CommitLimits)
    lease_seconds: float = 60.0
    lease_wait_seconds: float = 10.0
    idempotency_ttl_seconds: float = 24 * 3600.0
    server_token: ServerToken = field(default_factory=ServerToken)


@dataclass(frozen=True)
class CommitAsk:
    """A commit request as the route read it (types checked, rules not yet)."""

    branch: object
    base_sha: object
    message: object
    author: Author
    changes: Sequence[RawChange]
    check: object = None


@dataclass(frozen=True)
class CommitAnswer:
    outcome: CommitOutcome
    replayed: bool = False  # the answer an earlier request with the same key got


def commit_lock_id(repository_id: str, branch: str) -> str:
    """The commit lease of one branch: its own lock item, beside the repository's."""
    return f"{repository_id}#commit#{branch}"


class CommitService:
    def __init__(
        self,
        *,
        push: CommitPush,
        records: IdempotencyStore,
        config: CommitConfig,
        caller: Caller,
        syntax: Syntax = syntax_diagnostics,
        wait: Callable[[float], None] = time.sleep,
        new_owner: Callable[[], str] = lambda: f"commit:{uuid.uuid4().hex}",
    ) -> None:
        self._push = push
        self._p = push.ports
        self._records = records
        self._syntax = syntax
        self._c = config
        self._caller = caller
        self._wait = wait
        self._new_owner = new_owner

    def commit(self, repository_id: str, ask: CommitAsk, key: str | None) -> CommitAnswer:
        repo = self._repository(repository_id)
        request = validate_commit(
            branch=ask.branch,
            base_sha=ask.base_sha,
            message=ask.message,
            author=ask.author,
            changes=ask.changes,
            check=ask.check,
            limits=self._c.limits,
        )
        if request.check == "build" and not self._push.can_check:
            raise InvalidRequest(NO_BUILD)
        key = validate_idempotency_key(key)
        owner = self._new_owner()
        if key is None:
            refused = self._gate(repo, request)
            return CommitAnswer(refused) if refused else self._locked(repo, request, owner, None)
        scope = f"commits#{repo.id}#{self._caller.tenant}"
        found = self._claim(scope, key, request, owner)
        if found is not None and found.done:
            return CommitAnswer(decode_outcome(found.outcome or ""), replayed=True)
        ticket = _Ticket(self._records, scope, key, owner)
        try:
            refused = self._gate(repo, request)
            if refused is not None:
                ticket.finish(refused)
                return CommitAnswer(refused)
            return self._locked(repo, request, owner, ticket)
        except Exception:
            ticket.give_up()
            raise

    def _locked(
        self, repo: Repository, request: CommitRequest, owner: str, ticket: _Ticket | None
    ) -> CommitAnswer:
        """The git half under the branch's commit lease; with a ticket, the request's record
        is adopted first (an answer found there is replayed) and answered before the lease
        is released (so the next holder finds the answer, not a record to take over)."""
        lease = self._lease(repo, request.branch, owner)
        try:
            if ticket is None:
                attempt = Attempt(owner, self._p.clock.now(), None, lambda sha: True)
            else:
                current = ticket.adopt()
                if current.done:
                    return CommitAnswer(decode_outcome(current.outcome or ""), replayed=True)
                attempt = Attempt(owner, current.started_at, current.planned, ticket.plan)
            outcome = self._push.run(repo, request, attempt, lease, self._credentials(repo))
            if ticket is not None:
                ticket.finish(outcome)
            return CommitAnswer(outcome)
        finally:
            self._p.locks.release(lease)

    def _claim(
        self, scope: str, key: str, request: CommitRequest, owner: str
    ) -> IdempotencyRecord | None:
        now = self._p.clock.now()
        mine = IdempotencyRecord(
            scope=scope,
            key=key,
            fingerprint=fingerprint(request),
            owner=owner,
            created_at=now,
            expires_at=now + self._c.idempotency_ttl_seconds,
            started_at=now,
        )
        found = self._records.claim(mine, now)
        if found is not None and found.fingerprint != mine.fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was sent with another request; use a new key"
            )
        return found

    def _gate(self, repo: Repository, request: CommitRequest) -> CommitOutcome | None:
        """The syntax check of the written files: an answer when it found errors."""
        if request.check is None:
            return None
        found = [d for c in request.written for d in self._syntax(c.path, c.content or b"")]
        if not any(d.severity == "error" for d in found):
            return None
        return check_failed(repo.id, request.branch, request.base_sha, found)

    def _lease(self, repo: Repository, branch: str, owner: str) -> Lease:
        """The branch's commit lease, waited for a bounded time (TransientError after)."""
        lock_id = commit_lock_id(repo.id, branch)
        waited, delay = 0.0, 0.05
        while True:
            try:
                return self._p.locks.acquire(
                    lock_id, owner, self._c.lease_seconds, self._p.clock.now()
                )
            except LeaseHeld:
                if waited >= self._c.lease_wait_seconds:
                    raise TransientError(BUSY) from None
            self._wait(delay)
            waited += delay
            delay = min(delay * 2, 0.5)

    def _credentials(self, repo: Repository) -> list[str | None]:
        stored = repo.sealed_tokens.get(self._caller.tenant)
        offer = request_credentials(
            repo.remote,
            given=None,
            stored=self._p.vault.open(stored) if stored else None,
            admin=self._caller.is_admin,
            server=self._c.server_token,
        )
        return [*offer.own, *([offer.server] if offer.server else [])]

    def _repository(self, repository_id: str) -> Repository:
        rid = validate_repository_id(repository_id)
        repo = visible(self._caller, self._p.repos.get(rid))
        if repo is None or not repo.remote:
            raise NotFound(f"repository {rid} is not registered")
        return repo


class _Ticket:
    """A keyed request's record, as one attempt holds it."""

    def __init__(self, records: IdempotencyStore, scope: str, key: str, owner: str) -> None:
        self._records = records
        self._scope = scope
        self._key = key
        self._owner = owner
        self._planned = False  # a push may have been tried: the record must stay

    def adopt(self) -> IdempotencyRecord:
        """The record, owned by this attempt (taken over from one that died or gave up: under
        the branch's lease no other attempt of it can be working), or answered already."""
        found = self._records.get(self._scope, self._key)
        if found is not None and found.owner != self._owner and not found.done:
            found = self._records.take_over(found, self._owner) or self._records.get(
                self._scope, self._key
            )
        if found is None or not (found.done or found.owner == self._owner):
            raise TransientError("another attempt of this request holds it; retry")
        self._planned = self._planned or found.planned is not None
        return found

    def plan(self, sha: str) -> bool:
        self._planned = True
        return self._records.plan(self._scope, self._key, owner=self._owner, planned=sha)

    def finish(self, outcome: CommitOutcome) -> None:
        stored = self._records.finish(
            self._scope, self._key, owner=self._owner, outcome=encode_outcome(outcome)
        )
        if not stored:
            log.warning("another attempt owns request %s: its answer is kept", self._key[:40])

    def give_up(self) -> None:
        """After a failure: forget the record unless a push may have been tried under it."""
        if not self._planned:
            self._records.release(self._scope, self._key, owner=self._owner)
