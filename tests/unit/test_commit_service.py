"""The commit use case over in-memory fakes (services/commits.py, services/commit_push.py):
compare-and-swap answers, the syntax gate, idempotent retries, tenancy, credentials, the
branch's commit lease and its fence. tests/integration/test_commit_service.py runs the same
service over real git remotes, with the worker killed at each step."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pytest

from chalicelib.domain.commit_outcomes import UNTRACKED, CommitResult
from chalicelib.domain.commits import Author, CommitLimits, CommitMeta, FileChange, RawChange
from chalicelib.domain.credentials import ServerToken
from chalicelib.domain.events import EventType
from chalicelib.domain.identity import Caller, Scope
from chalicelib.domain.messages import IndexRepository
from chalicelib.errors import (
    AccessDenied,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    TransientError,
)
from chalicelib.services.check_requests import CheckRequests
from chalicelib.services.commit_push import LOST_LEASE, CommitPush
from chalicelib.services.commits import (
    BUSY,
    CommitAnswer,
    CommitAsk,
    CommitConfig,
    CommitService,
    commit_lock_id,
)
from chalicelib.services.index_requests import IndexRequests
from tests.fakes.checks import FakeCheckStore
from tests.fakes.git_writer import FakeGitWriter
from tests.fakes.idempotency import FakeIdempotencyStore
from tests.fakes.stores import FakeEventLog
from tests.harness import ADMIN, REMOTE, REPO_ID, TENANT, Harness

FILES = {"shop/cart.py": b"def total(items):\n    return sum(items)\n", "README.md": b"# Shop\n"}
ADA = Author("Ada Lovelace", "ada@example.com")
OTHER_TENANT = Caller("bravokey0001", "bravo", Scope.INDEX)


@dataclass
class World:
    h: Harness = field(default_factory=Harness)
    records: FakeIdempotencyStore = field(default_factory=FakeIdempotencyStore)
    checks: FakeCheckStore = field(default_factory=FakeCheckStore)
    events: FakeEventLog = field(default_factory=FakeEventLog)
    waits: list[float] = field(default_factory=list)
    config: CommitConfig = field(default_factory=CommitConfig)
    writer: FakeGitWriter = field(init=False)
    base: str = ""

    def __post_init__(self) -> None:
        self.writer = FakeGitWriter(self.h.git)
        self.base = self.h.git.commit(REMOTE, FILES)
        self.h.request(url=REMOTE, repository_id=None)
        self.h.run()

    def service(self, caller: Caller = TENANT, writer: object = None) -> CommitService:
        ports = replace(self.h.ports, events=self.events)
        checks = CheckRequests(
            repos=ports.repos,
            checks=self.checks,
            blobs=ports.blobs,
            queue=ports.queue,
            clock=ports.clock,
            caller=caller,
        )
        push = CommitPush(
            writer=writer or self.writer,  # type: ignore[arg-type]
            locks=ports.locks,
            index=IndexRequests(ports=ports, config=self.h.config),
            checks=checks,
            lease_seconds=self.config.lease_seconds,
        )

        def wait(seconds: float) -> None:
            self.waits.append(seconds)
            self.h.clock.advance(seconds)

        return CommitService(
            push=push, records=self.records, config=self.config, caller=caller, wait=wait
        )

    def commit(
        self,
        *changes: RawChange,
        key: str | None = None,
        caller: Caller = TENANT,
        **fields: object,
    ) -> CommitAnswer:
        given = {"branch": "main", "base_sha": self.base, "message": "change", "author": ADA}
        ask = CommitAsk(
            changes=list(changes) or [RawChange("shop/tax.py", "RATE = 0.2\n")],
            **{**given, **fields},  # type: ignore[arg-type]
        )
        return self.service(caller).commit(REPO_ID, ask, key)

    @property
    def head(self) -> str:
        return self.h.git.remotes[REMOTE].branches["main"]

    def tree(self, sha: str) -> dict[str, object]:
        return dict(self.h.git.remotes[REMOTE].commits[sha])


@pytest.fixture
def w() -> World:
    return World()


def test_a_commit_on_the_head_moves_the_branch_and_asks_for_its_index(w: World) -> None:
    answer = w.commit(RawChange("shop/tax.py", "RATE = 0.2\n"), RawChange("README.md", delete=True))
    outcome = answer.outcome
    assert (outcome.result, outcome.sha, answer.replayed) == (CommitResult.COMMITTED, w.head, False)
    assert w.h.git.remotes[REMOTE].parents[w.head] == w.base
    assert w.tree(w.head) == {"shop/cart.py": FILES["shop/cart.py"], "shop/tax.py": b"RATE = 0.2\n"}
    assert outcome.index_status == "indexing" and w.h.repo().requested_sha == w.head
    assert isinstance(w.h.queue.sent[-1], IndexRepository)
    pushed = [e for e in w.events.items[REPO_ID].values() if e.type == EventType.COMMIT_PUSHED]
    assert [e.data["sha"] for e in pushed] == [w.head]
    lease = w.h.locks.get(commit_lock_id(REPO_ID, "main"))
    assert lease is not None and lease.owner == ""  # released, its fence kept
    w.h.run()
    assert w.h.repo().indexed_sha == w.head


def test_a_commit_on_a_base_the_branch_left_is_refused_with_the_head(w: World) -> None:
    first = w.commit(RawChange("a.py", "a = 1\n"))
    stale = w.commit(RawChange("b.py", "b = 1\n"))
    assert stale.outcome.result is CommitResult.BRANCH_MOVED
    assert stale.outcome.current_sha == first.outcome.sha == w.head
    assert "b.py" not in w.tree(w.head) and w.writer.pushes == 1


def test_a_push_that_loses_the_race_after_the_head_was_read_changes_nothing(w: World) -> None:
    class Racing(FakeGitWriter):
        def push(
            self, remote: str, branch: str, expected: str, sha: str, creds: Sequence[str | None]
        ) -> None:
            w.h.git.commit(REMOTE, {**FILES, "theirs.py": b"x = 1\n"})  # lands meanwhile
            super().push(remote, branch, expected, sha, creds)

    theirs_before = w.head
    answer = w.service(writer=Racing(w.h.git)).commit(
        REPO_ID, CommitAsk("main", w.base, "mine", ADA, [RawChange("mine.py", "m = 1\n")]), None
    )
    assert answer.outcome.result is CommitResult.BRANCH_MOVED
    assert answer.outcome.current_sha == w.head != theirs_before
    assert "mine.py" not in w.tree(w.head)


def test_syntax_errors_refuse_the_commit_before_any_git_call(w: World) -> None:
    fetches = w.h.git.fetches
    answer = w.commit(RawChange("shop/bad.py", "def (:\n"), check="syntax")
    outcome = answer.outcome
    assert outcome.result is CommitResult.CHECK_FAILED
    assert [(d.path, d.line, d.column, d.tool) for d in outcome.diagnostics] == [
        ("shop/bad.py", 1, 5, "python")
    ]
    assert (w.head, w.writer.pushes, w.h.git.fetches) == (w.base, 0, fetches)
    assert w.h.locks.get(commit_lock_id(REPO_ID, "main")) is None  # not even the lease
    text = RawChange("notes.txt", "((\n")
    ok = w.commit(RawChange("shop/good.py", "x = 1\n"), text, check="syntax")
    assert ok.outcome.result is CommitResult.COMMITTED  # text has no syntax check


def test_a_build_check_is_queued_for_the_written_files_of_the_new_commit(w: World) -> None:
    answer = w.commit(
        RawChange("shop/tax.py", "RATE = 0.2\n"), RawChange("README.md", delete=True), check="build"
    )
    outcome = answer.outcome
    check = w.checks.get(REPO_ID, outcome.check_id or "")
    assert check is not None and (check.sha, check.level, check.paths) == (
        outcome.sha,
        "build",
        ("shop/tax.py",),
    )


def test_a_commit_to_another_branch_is_not_indexed(w: World) -> None:
    w.h.git.remotes[REMOTE].branches["feature"] = w.base
    sent = len(w.h.queue.sent)
    answer = w.commit(branch="feature")
    assert answer.outcome.index_status == UNTRACKED and len(w.h.queue.sent) == sent
    assert w.h.git.remotes[REMOTE].branches["feature"] == answer.outcome.sha
    assert w.head == w.base


def test_the_same_key_and_request_is_answered_the_same_without_a_second_push(w: World) -> None:
    first = w.commit(key="k-1")
    again = w.commit(key="k-1")
    assert again.replayed and again.outcome == first.outcome and w.writer.pushes == 1
    with pytest.raises(IdempotencyKeyReused, match="another request"):
        w.commit(RawChange("x.py", "x = 2\n"), key="k-1")
    w.h.request(OTHER_TENANT, repository_id=REPO_ID)  # another tenant registers it too
    other = w.commit(key="k-1", caller=OTHER_TENANT)  # its keys are its own
    assert other.outcome.result is CommitResult.BRANCH_MOVED and not other.replayed


def test_refusals_are_answered_the_same_to_the_same_key(w: World) -> None:
    w.commit(RawChange("a.py", "a = 1\n"))
    moved = w.commit(key="late")
    assert w.commit(key="late").outcome == moved.outcome
    failed = w.commit(RawChange("b.py", "def (:\n"), check="syntax", key="bad")
    replay = w.commit(RawChange("b.py", "def (:\n"), check="syntax", key="bad")
    assert replay.replayed and replay.outcome == failed.outcome


def test_a_repository_the_caller_may_not_see_is_not_found(w: World) -> None:
    with pytest.raises(NotFound, match="not registered"):
        w.commit(caller=OTHER_TENANT)
    with pytest.raises(NotFound, match="not registered"):
        w.service().commit("github:acme:nothing", CommitAsk("main", w.base, "m", ADA, []), None)
    assert w.head == w.base


def test_invalid_requests_are_refused_before_a_key_is_claimed(w: World) -> None:
    with pytest.raises(InvalidRequest, match=re.escape("'..'")):
        w.commit(RawChange("../x", "x"), key="k")
    with pytest.raises(InvalidRequest, match="not in the base"):
        w.commit(RawChange("nope.py", delete=True), key="k2")
    assert w.records.records == {}  # the second was claimed, then forgotten
    w.config = replace(w.config, limits=CommitLimits(max_files=1))
    with pytest.raises(InvalidRequest, match="at most 1 files"):
        w.commit(RawChange("a.py", "1"), RawChange("b.py", "2"))


def test_a_busy_branch_is_waited_for_then_answered_503_and_the_key_freed(w: World) -> None:
    w.h.locks.acquire(commit_lock_id(REPO_ID, "main"), "someone", 600, w.h.clock.now())
    with pytest.raises(TransientError, match=re.escape(BUSY)):
        w.commit(key="busy")
    assert sum(w.waits) >= w.config.lease_wait_seconds and len(w.waits) < 40
    assert w.records.records == {} and w.head == w.base
    w.h.clock.advance(600)
    assert w.commit(key="busy").outcome.result is CommitResult.COMMITTED


def test_a_lost_lease_stops_the_commit_before_its_push(w: World) -> None:
    class Stalling(FakeGitWriter):
        def write_commit(
            self, remote: str, base: str, changes: Sequence[FileChange], meta: CommitMeta
        ) -> str:
            w.h.clock.advance(w.config.lease_seconds + 1)  # paused past its lease...
            w.h.locks.acquire(commit_lock_id(REPO_ID, "main"), "next", 60, w.h.clock.now())
            return super().write_commit(remote, base, changes, meta)

    ask = CommitAsk("main", w.base, "m", ADA, [RawChange("a.py", "a = 1\n")])
    with pytest.raises(TransientError, match=re.escape(LOST_LEASE)):
        w.service(writer=Stalling(w.h.git)).commit(REPO_ID, ask, "slow")
    assert w.head == w.base  # ...so it never pushed
    record = w.records.get(f"commits#{REPO_ID}#acme", "slow")
    assert record is not None and record.planned and not record.done  # kept for a retry


def test_the_tenants_stored_token_pushes_and_the_server_token_only_for_admins(w: World) -> None:
    w.h.git.remotes[REMOTE].token = "tenant-token"
    with pytest.raises(AccessDenied):
        w.commit()  # the tenant registered without a token: anonymous is refused
    w.h.request(access_token="tenant-token")  # stores it, sealed
    assert w.commit().outcome.result is CommitResult.COMMITTED
    w.h.git.remotes[REMOTE].token = "server-token"
    w.config = replace(w.config, server_token=ServerToken("server-token", ("github.com/acme",)))
    with pytest.raises(AccessDenied):
        w.commit(RawChange("b.py", "b = 1\n"), base_sha=w.head)
    admin = w.commit(RawChange("c.py", "c = 1\n"), base_sha=w.head, caller=ADMIN)
    assert admin.outcome.result is CommitResult.COMMITTED
    w.config = replace(w.config, server_token=ServerToken("server-token", ("github.com/other",)))
    with pytest.raises(AccessDenied):  # out of the token's scope: never offered
        w.commit(RawChange("d.py", "d = 1\n"), base_sha=w.head, caller=ADMIN)


def test_the_commit_limits_and_leases_come_from_the_environment() -> None:
    from chalicelib import bootstrap
    from chalicelib.local.config import LocalConfig
    from chalicelib.settings import Settings

    s = Settings.from_env(
        {
            "STRATA_COMMIT_MAX_FILES": "7",
            "STRATA_COMMIT_MAX_FILE_BYTES": "1000",
            "STRATA_COMMIT_MAX_TOTAL_BYTES": "5000",
            "STRATA_COMMIT_LEASE_SECONDS": "90",
            "STRATA_COMMIT_LEASE_WAIT_SECONDS": "2.5",
            "STRATA_IDEMPOTENCY_TTL_SECONDS": "3600",
            "STRATA_GIT_TOKEN": "server-token",
            "STRATA_GIT_TOKEN_SCOPE": "github.com/acme",
        }
    )
    config = bootstrap.commit_config(s)
    assert config.limits == CommitLimits(max_files=7, max_file_bytes=1000, max_total_bytes=5000)
    assert (config.lease_seconds, config.lease_wait_seconds) == (90.0, 2.5)
    assert config.idempotency_ttl_seconds == 3600.0
    assert config.server_token.for_remote("https://github.com/acme/x") == "server-token"
    assert Settings.from_env({}).commit_max_body_bytes == 5 * 1024 * 1024
    env = {"GIT_AUTHOR_NAME": " Ada ", "GIT_AUTHOR_EMAIL": "ada@example.com"}
    assert LocalConfig.from_env(env).author == ("Ada", "ada@example.com")
    assert LocalConfig.from_env({"GIT_AUTHOR_NAME": "Ada"}).author is None
