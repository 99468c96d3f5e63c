"""The commit use case over real git remotes (a local bare repository, and the smart-HTTPS
server with authentication behind the egress proxy), with the stores faked:

- the worker killed at each step of a commit (a port wrapper trips a switch; from then on
  every call of that attempt fails, as a dead process does no more I/O, cleanup included):
  the remote is at the old or the new SHA, never half, and a retry with the same
  Idempotency-Key answers what the uninterrupted request answers;
- 20 concurrent committers on one branch, split over two deployments that share nothing but
  the remote (so their pushes race at the remote, not only at the lease): every change lands
  exactly once or is answered 409, and the branch's history holds every 200-answered change;
- tokens never reach a log line or an answer.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import pygit2
import pytest

from chalicelib.adapters.system_clock import SystemClock
from chalicelib.domain.commit_outcomes import CommitOutcome, CommitResult
from chalicelib.domain.commits import Author, RawChange
from chalicelib.domain.identity import Caller, Scope
from chalicelib.domain.messages import IndexRepository
from chalicelib.errors import StrataError, TransientError
from chalicelib.services.commit_push import CommitPush
from chalicelib.services.commits import BUSY, CommitAsk, CommitConfig, CommitService
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.index_requests import IndexRequests, IndexTarget
from tests.egress import GIT_HOST, Guarded, guarded_engine, server_context
from tests.fakes.aws import FakeBlobStore, FakeClock, FakeTokenVault, FakeWorkQueue
from tests.fakes.idempotency import FakeIdempotencyStore
from tests.fakes.stores import FakeEventLog, FakeJobStore, FakeLockManager, FakeRepoStore
from tests.gitrepo import init_repo
from tests.integration.git_http_server import GitHttpServer

T = TypeVar("T")
FILES = {"shop/cart.py": "def total(items):\n    return sum(items)\n", "README.md": "# Shop\n"}
TOKEN = "ghs_tenant-push-token-never-logged"
ACME = Caller("acmekey00001", "acme", Scope.INDEX)
ADA = Author("Ada Lovelace", "ada@example.com")
CONFIG = CommitConfig(lease_seconds=60.0, lease_wait_seconds=10.0)


class Killed(BaseException):
    """The worker died: raised where it died, then by every later call it would make."""


class KillSwitch:
    """Trips at `point` ("port.method") `when` it is called ("before") or has returned
    ("after"); `None` never trips."""

    def __init__(self, point: str | None = None, when: str = "after") -> None:
        self.point, self.when, self.dead = point, when, False

    def wrap(self, name: str, inner: T) -> T:
        switch = self

        class Port:
            def __getattr__(self, attr: str) -> Any:
                value = getattr(inner, attr)
                if not callable(value):
                    return value
                point = f"{name}.{attr}"

                def call(*args: Any, **kwargs: Any) -> Any:
                    switch.trip(point, "before")
                    result = value(*args, **kwargs)
                    switch.trip(point, "after")
                    return result

                return call

        return cast(T, Port())

    def trip(self, point: str, when: str) -> None:
        if self.dead:
            raise Killed(f"dead before {point}")
        if point == self.point and when == self.when:
            self.dead = True
            raise Killed(f"killed {when} {point}")


class Serialized:
    """A fake store made safe for threads: one call at a time (as one DynamoDB item is)."""

    def __init__(self, inner: object, lock: threading.RLock) -> None:
        self._inner, self._lock = inner, lock

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return value(*args, **kwargs)

        return call


@dataclass
class Deployment:
    """One Strata deployment's stores, and a worker's git cache (`worker()` starts a new
    one: another function instance, with an empty cache)."""

    root: Path  # where its git caches go, and the local remotes it may read
    name: str = "d"
    clock: FakeClock | SystemClock = field(default_factory=FakeClock)
    locks: FakeLockManager = field(default_factory=FakeLockManager)
    records: FakeIdempotencyStore = field(default_factory=FakeIdempotencyStore)
    queue: FakeWorkQueue = field(default_factory=FakeWorkQueue)
    events: FakeEventLog = field(default_factory=FakeEventLog)
    guarded: Guarded | None = None
    hosts: tuple[str, ...] = ()  # the git hosts a registration may name
    workers: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.repos = FakeRepoStore(self.locks)
        self.worker()

    def worker(self) -> Guarded:
        if self.guarded is not None:
            self.guarded.proxy.stop()
        self.workers += 1
        cache = self.root / f"{self.name}-cache-{self.workers}"
        self.guarded = guarded_engine(cache, [str(self.root)])
        return self.guarded

    def ports(self, kill: KillSwitch) -> IndexPorts:
        assert self.guarded is not None

        def shared(name: str, store: object) -> Any:
            return kill.wrap(name, Serialized(store, self._lock))

        return IndexPorts(
            git=kill.wrap("git", self.guarded.engine),
            blobs=FakeBlobStore(),
            queue=shared("queue", self.queue),
            repos=shared("repos", self.repos),
            locks=shared("locks", self.locks),
            jobs=FakeJobStore(),
            vault=FakeTokenVault(),
            clock=self.clock,
            events=shared("events", self.events),
        )

    def register(self, url: str, token: str | None = None) -> str:
        ports = self.ports(KillSwitch())
        requests = IndexRequests(ports=ports, config=index_config(self.root, self.hosts))
        outcome = requests.request(IndexTarget(url=url, access_token=token), ACME)
        return outcome.repository.id

    def service(self, kill: KillSwitch | None = None) -> CommitService:
        kill = kill or KillSwitch()
        assert self.guarded is not None
        ports = self.ports(kill)
        push = CommitPush(
            writer=kill.wrap("writer", self.guarded.engine),
            locks=ports.locks,
            index=IndexRequests(ports=ports, config=index_config(self.root, self.hosts)),
            checks=None,
            lease_seconds=CONFIG.lease_seconds,
        )
        records = kill.wrap("records", Serialized(self.records, self._lock))
        return CommitService(
            push=push, records=records, config=CONFIG, caller=ACME, wait=self._wait
        )

    def _wait(self, seconds: float) -> None:
        if isinstance(self.clock, SystemClock):
            time.sleep(seconds)  # the concurrency tests wait for real
            return
        with self._lock:
            self.clock.advance(seconds)


def index_config(root: Path, hosts: tuple[str, ...]) -> IndexConfig:
    return IndexConfig(allow_local_paths=True, local_roots=(str(root),), git_hosts=hosts)


def head(path: Path, branch: str = "main") -> str:
    return str(pygit2.Repository(str(path)).references[f"refs/heads/{branch}"].target)


def fsck(path: Path) -> None:
    command = ["git", "-C", str(path), "fsck", "--strict"]
    checked = subprocess.run(command, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr


def ask(base: str, *changes: RawChange, message: str = "add the tax") -> CommitAsk:
    files = list(changes) or [RawChange("shop/tax.py", "RATE = 0.2\n")]
    return CommitAsk("main", base, message, ADA, files)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Deployment, Path, str, str]]:
    """(deployment, the bare remote, its repository id, the base SHA)."""
    remote = tmp_path / "shop.git"
    base = init_repo(remote, FILES, bare=True)
    d = Deployment(tmp_path)
    yield d, remote, d.register(str(remote)), base
    assert d.guarded is not None
    d.guarded.proxy.stop()


def control(tmp_path: Path, remote: Path, base: str) -> CommitOutcome:
    """What the request answers when nothing dies, on a copy of the remote (same clock)."""
    copy = tmp_path / "control" / remote.name
    shutil.copytree(remote, copy)
    d = Deployment(tmp_path / "control", "control")
    rid = d.register(str(copy))
    outcome = d.service().commit(rid, ask(base), "retry-me").outcome
    assert d.guarded is not None
    d.guarded.proxy.stop()
    return replace(outcome, repository_id="")


STEPS = [
    ("records.claim", "after"),
    ("locks.acquire", "after"),
    ("git.resolve_head", "after"),
    ("git.fetch", "after"),
    ("writer.write_commit", "after"),
    ("records.plan", "after"),
    ("locks.heartbeat", "after"),
    ("writer.push", "before"),
    ("writer.push", "after"),
    ("repos.record_request", "after"),
    ("queue.send", "after"),
    ("events.append", "after"),
    ("records.finish", "before"),
    ("records.finish", "after"),
    ("locks.release", "before"),
]


@pytest.mark.parametrize(("point", "when"), STEPS, ids=[f"{w}-{p}" for p, w in STEPS])
def test_a_commit_killed_at_any_step_leaves_the_old_or_new_sha_and_a_retry_answers_the_same(
    local: tuple[Deployment, Path, str, str], tmp_path: Path, point: str, when: str
) -> None:
    d, remote, rid, base = local
    expected = control(tmp_path, remote, base)
    with pytest.raises(Killed):
        d.service(KillSwitch(point, when)).commit(rid, ask(base), "retry-me")
    landed = head(remote)
    assert landed in (base, expected.sha)  # never half: one ref update, objects first
    fsck(remote)
    pushed = STEPS.index((point, when)) >= STEPS.index(("writer.push", "after"))
    assert (landed == expected.sha) == pushed
    d.worker()  # the retry runs elsewhere: another instance, an empty git cache
    held = d.locks.get(f"{rid}#commit#main")
    record = d.records.get(f"commits#{rid}#acme", "retry-me")
    answered = record is not None and record.done  # a retry is answered at once
    if held is not None and held.owner and not answered:  # 503 until the lease expires
        with pytest.raises(TransientError, match=re.escape(BUSY)):
            d.service().commit(rid, ask(base), "retry-me")
        assert isinstance(d.clock, FakeClock)
        d.clock.advance(CONFIG.lease_seconds)
    retried = d.service().commit(rid, ask(base), "retry-me")
    assert replace(retried.outcome, repository_id="") == expected
    assert head(remote) == expected.sha and _parents(remote, expected.sha) == [base]
    again = d.service().commit(rid, ask(base), "retry-me")
    assert again.replayed and again.outcome == retried.outcome
    assert any(isinstance(m, IndexRepository) for m in d.queue.sent)
    assert d.repos.get(rid) is not None and d.repos.get(rid).requested_sha == expected.sha  # type: ignore[union-attr]


def _parents(remote: Path, sha: str) -> list[str]:
    return [str(p) for p in pygit2.Repository(str(remote))[sha].peel(pygit2.Commit).parent_ids]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return server_context(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https(tmp_path: Path, tls: Any) -> Iterator[tuple[GitHttpServer, Path, str]]:
    remote = tmp_path / "served" / "shop.git"
    base = init_repo(remote, FILES, bare=True)
    with GitHttpServer(tmp_path / "served", password=TOKEN, tls=tls, host=GIT_HOST) as server:
        yield server, remote, base


def _allow(d: Deployment, server: GitHttpServer) -> None:
    assert d.guarded is not None
    d.guarded.allow(server.netloc)
    d.hosts = (server.netloc,)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_push_killed_over_https_is_retried_with_the_tenants_token(
    https: tuple[GitHttpServer, Path, str], tmp_path: Path, when: str
) -> None:
    server, remote, base = https
    d = Deployment(tmp_path / "d")
    _allow(d, server)
    rid = d.register(server.url("shop.git"), TOKEN)
    with pytest.raises(Killed):
        d.service(KillSwitch("writer.push", when)).commit(rid, ask(base), "k")
    landed = head(remote)
    assert (landed != base) == (when == "after")
    fsck(remote)
    d.worker()
    _allow(d, server)
    assert isinstance(d.clock, FakeClock)
    d.clock.advance(CONFIG.lease_seconds)
    retried = d.service().commit(rid, ask(base), "k").outcome
    assert retried.result is CommitResult.COMMITTED and head(remote) == retried.sha
    assert landed in (base, retried.sha) and _parents(remote, head(remote)) == [base]
    assert d.guarded is not None
    d.guarded.proxy.stop()


COMMITTERS = 20
ATTEMPTS = 2


@dataclass
class Tally:
    landed: dict[int, str] = field(default_factory=dict)  # committer -> sha (200)
    refused: dict[int, str] = field(default_factory=dict)  # committer -> last currentSha (409)
    failed: dict[int, BaseException] = field(default_factory=dict)


def _committer(
    n: int, d: Deployment, rid: str, start: str, *, tally: Tally, lock: threading.Lock
) -> None:
    """One committer: its own file, up to ATTEMPTS answers, rebasing on each 409's head (a
    503, the branch busy past the lease wait, is asked again with the same key)."""
    base, answers, busy = start, 0, 0
    while answers < ATTEMPTS:
        change = RawChange(f"committers/c{n:02d}.txt", f"committer {n}\n")
        try:
            answer = d.service().commit(
                rid, ask(base, change, message=f"committer {n}"), f"c{n}-{answers}"
            )
        except TransientError as exc:
            busy += 1
            if busy > ATTEMPTS:
                with lock:
                    tally.failed[n] = exc
                return
            continue
        except StrataError as exc:
            with lock:
                tally.failed[n] = exc
            return
        answers += 1
        outcome = answer.outcome
        with lock:
            if outcome.result is CommitResult.COMMITTED:
                tally.landed[n] = outcome.sha or ""
                tally.refused.pop(n, None)
                return
            assert outcome.result is CommitResult.BRANCH_MOVED, outcome
            tally.refused[n] = outcome.current_sha or ""
        base = outcome.current_sha or base


def _race(deployments: list[Deployment], rids: list[str], base: str) -> Tally:
    tally, lock = Tally(), threading.Lock()
    with ThreadPoolExecutor(COMMITTERS) as pool:
        runs = [
            pool.submit(
                _committer, n, deployments[n % 2], rids[n % 2], base, tally=tally, lock=lock
            )
            for n in range(COMMITTERS)
        ]
        for run in runs:
            run.result(timeout=120)
    return tally


def _history(remote: Path, base: str) -> list[pygit2.Commit]:
    """The branch's commits after `base`, oldest first, along first parents."""
    repo = pygit2.Repository(str(remote))
    out, at = [], repo[head(remote)].peel(pygit2.Commit)
    while str(at.id) != base:
        out.append(at)
        assert len(at.parent_ids) == 1
        at = repo[at.parent_ids[0]].peel(pygit2.Commit)
    return out[::-1]


def _assert_exactly_the_landed(remote: Path, base: str, tally: Tally) -> None:
    assert not tally.failed, tally.failed
    assert set(tally.landed) | set(tally.refused) == set(range(COMMITTERS))
    assert not set(tally.landed) & set(tally.refused)
    history = _history(remote, base)
    assert sorted(str(c.id) for c in history) == sorted(tally.landed.values())
    messages = [c.message for c in history]
    assert sorted(messages) == sorted(f"committer {n}" for n in tally.landed)  # once each
    tree = pygit2.Repository(str(remote))[head(remote)].peel(pygit2.Tree)
    written = {e.name for e in tree["committers"].peel(pygit2.Tree)} if history else set()
    assert written == {f"c{n:02d}.txt" for n in tally.landed}  # none lost, none extra
    fsck(remote)


@pytest.mark.slow
def test_twenty_committers_on_one_local_branch_land_once_or_get_409(tmp_path: Path) -> None:
    remote = tmp_path / "shop.git"
    base = init_repo(remote, FILES, bare=True)
    deployments = [Deployment(tmp_path, n, clock=SystemClock()) for n in "ab"]
    rids = [d.register(str(remote)) for d in deployments]
    tally = _race(deployments, rids, base)
    _assert_exactly_the_landed(remote, base, tally)
    assert len(tally.landed) >= ATTEMPTS  # at least one per round lands
    for d in deployments:
        assert d.guarded is not None
        d.guarded.proxy.stop()


@pytest.mark.slow
def test_twenty_committers_over_https_land_once_or_get_409(
    https: tuple[GitHttpServer, Path, str], tmp_path: Path
) -> None:
    server, remote, base = https
    deployments = [Deployment(tmp_path, n, clock=SystemClock()) for n in "ab"]
    for d in deployments:
        _allow(d, server)
    rids = [d.register(server.url("shop.git"), TOKEN) for d in deployments]
    tally = _race(deployments, rids, base)
    _assert_exactly_the_landed(remote, base, tally)
    for d in deployments:
        assert d.guarded is not None
        d.guarded.proxy.stop()


def test_tokens_reach_neither_a_log_line_nor_an_answer(
    https: tuple[GitHttpServer, Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, remote, base = https
    d = Deployment(tmp_path / "d")
    _allow(d, server)
    rid = d.register(server.url("shop.git"), TOKEN)
    answers: list[str] = []
    for key in ("one", "two"):  # a commit, then a conflict
        answers.append(repr(d.service().commit(rid, ask(base), key)))
    server.password = "ghs_rotated-so-the-stored-token-fails"  # the stored token lapses
    try:
        d.service().commit(rid, ask(head(remote), RawChange("x.py", "x\n")), "three")
    except StrataError as exc:
        answers.append(f"{exc.code}: {exc.message}")
    assert "access_denied" in answers[-1]
    events = repr(d.events.items)
    for text in (caplog.text, events, *answers):
        assert TOKEN not in text and server.password not in text
    assert d.guarded is not None
    d.guarded.proxy.stop()
