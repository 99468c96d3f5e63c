"""Use case: a client asks for a check of a repository at a commit, reads one, lists them.

The repository must be one the caller may see (domain/tenancy.py): any other id, registered
or not, is NotFound with the same words. A check is recorded `queued`, then its PlanCheck is
enqueued; if that send fails the record is ended in `error` at once, so no check waits for
a message that was never sent. Reports (diagnostics) are read from S3 once the run ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib.domain.check_codecs import CheckReport, decode_report
from chalicelib.domain.check_plan import run_prefix, run_report_key
from chalicelib.domain.checks import (
    Check,
    CheckStatus,
    is_check_id,
    new_check_id,
    validate_check_paths,
    validate_level,
    validate_sha,
)
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import storage_key, validate_repository_id
from chalicelib.domain.messages import PlanCheck
from chalicelib.domain.models import Repository
from chalicelib.domain.tenancy import visible
from chalicelib.errors import InvalidRequest, NotFound
from chalicelib.ports import BlobStore, CheckStore, Clock, RepoStore, WorkQueue
from chalicelib.services.blob_reads import stored

log = logging.getLogger(__name__)

MAX_LIST = 50
NOT_SENT = "the check could not be queued; request it again"


@dataclass(frozen=True)
class CheckRequest:
    level: str
    sha: str | None = None
    paths: tuple[str, ...] | list[str] | None = None


@dataclass(frozen=True)
class CheckResult:
    check: Check
    report: CheckReport | None  # None until the run ended (or when its report is gone)


class CheckRequests:
    def __init__(
        self,
        *,
        repos: RepoStore,
        checks: CheckStore,
        blobs: BlobStore,
        queue: WorkQueue,
        clock: Clock,
        caller: Caller,
    ) -> None:
        self._repos = repos
        self._checks = checks
        self._blobs = blobs
        self._queue = queue
        self._clock = clock
        self._caller = caller

    def request(self, repository_id: str, wanted: CheckRequest) -> Check:
        level = validate_level(wanted.level)
        paths = validate_check_paths(wanted.paths)
        repo = self._repository(repository_id)
        sha = validate_sha(wanted.sha) if wanted.sha is not None else _default_sha(repo)
        now = self._clock.now()
        check = Check(
            repository_id=repo.id,
            check_id=new_check_id(now),
            sha=sha,
            level=level,
            paths=paths,
            created_at=now,
            updated_at=now,
            actor=self._caller.actor,
        )
        self._checks.create(check)
        try:
            self._queue.send(PlanCheck(repo.id, check.check_id))
        except Exception:
            self._checks.finish(
                repo.id, check.check_id, CheckStatus.ERROR, message=NOT_SENT, now=now
            )
            raise
        log.info("check %s requested at %s (%s)", check.check_id, sha[:12], level)
        return check

    def get(self, repository_id: str, check_id: str) -> CheckResult:
        repo = self._repository(repository_id)
        check = self._checks.get(repo.id, check_id) if is_check_id(check_id) else None
        if check is None:
            raise NotFound(f"no check {check_id[:40]!r} for this repository")
        return CheckResult(check, self._report(check) if check.status.ended else None)

    def recent(self, repository_id: str, limit: int) -> list[Check]:
        if not 1 <= limit <= MAX_LIST:
            raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIST}")
        repo = self._repository(repository_id)
        return self._checks.recent(repo.id, limit)

    def _repository(self, repository_id: str) -> Repository:
        rid = validate_repository_id(repository_id)
        repo = visible(self._caller, self._repos.get(rid))
        if repo is None or not repo.remote:
            raise NotFound(f"repository {rid} is not registered")
        return repo

    def _report(self, check: Check) -> CheckReport | None:
        key = run_report_key(run_prefix(storage_key(check.repository_id), check.check_id))
        data = stored(self._blobs, key)  # None: an error before any batch ran, or expired
        return None if data is None else decode_report(data)


def _default_sha(repo: Repository) -> str:
    sha = repo.indexed_sha or repo.head_sha
    if not sha:
        raise InvalidRequest("this repository has no indexed commit yet: index it or give a sha")
    return sha
