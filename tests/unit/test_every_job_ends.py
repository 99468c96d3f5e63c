"""Every job ends: faults injected at each step of plan -> stage -> parse -> embed -> finalize
-> publish, with SQS's retries and dead-letter queues simulated (tests/sqs_simulator.py).

A fault is a TransientError raised by the port call number N of a run (counted over every
port but the clock), for N = 1, 2, ... until a run makes fewer than N calls. Whatever N, once
the queues and DLQs are empty the repository is `ready` at the SHA asked for, or `error`
with a message for users; a reader never sees a generation pointer without its complete
manifest; and the next request builds normally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_manifest
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.models import Repository, Status
from chalicelib.errors import TransientError
from chalicelib.services.context import IndexPorts
from chalicelib.services.job_endings import ENDED, RETRIES_EXHAUSTED
from chalicelib.services.pipeline import IndexPipeline
from tests.fakes.models import FakeEmbedder
from tests.freshness_harness import FreshnessHarness
from tests.harness import REMOTE, REPO_ID
from tests.sqs_simulator import SimulatedSqs

V1 = {f"pkg/m{i}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(5)}
V2 = {**V1, "pkg/m1.py": "def f1(x):\n    return x * 11\n", "pkg/new.py": "NEW = 1\n"}
INJECTED = "injected fault"


class Faults:
    """Raises at the `at`-th port call, and at the next `lasting - 1` calls of the same
    port method (a fault that outlasts a message's retries sends it to its DLQ)."""

    def __init__(self, at: int, lasting: int = 1) -> None:
        self.at = at
        self.left = lasting
        self.calls = 0
        self.target: str | None = None
        self.fired = 0

    def check(self, name: str) -> None:
        self.calls += 1
        if self.calls == self.at:
            self.target = name
        if name == self.target and self.left > 0:
            self.left -= 1
            self.fired += 1
            raise TransientError(f"{INJECTED} in {name} (call {self.calls})")


class FaultyPort:
    def __init__(self, inner: Any, name: str, faults: Faults) -> None:
        self._inner = inner
        self._name = name
        self._faults = faults

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._faults.check(f"{self._name}.{attr}")
            return value(*args, **kwargs)

        return call


def faulty(ports: IndexPorts, faults: Faults) -> IndexPorts:
    names = ("git", "blobs", "queue", "repos", "locks", "jobs", "vault", "events", "embedder")
    wrapped = {
        n: FaultyPort(getattr(ports, n), n, faults) for n in names if getattr(ports, n) is not None
    }
    return replace(ports, **wrapped)


@dataclass
class Run:
    h: FreshnessHarness
    sqs: SimulatedSqs
    faults: Faults
    sha: str
    ended: Repository = field(init=False)  # the item once the queues were empty
    failures: tuple[Event, ...] = ()  # IndexFailed events by then, newest first


def indexed_once(embedder: FakeEmbedder | None) -> tuple[FreshnessHarness, str]:
    """A repository indexed at V1 (cleanly), then V2 committed and requested."""
    h = FreshnessHarness(embedder=embedder)
    h.git.commit(REMOTE, V1)
    h.request()
    SimulatedSqs(h.queue.pending, h.pipeline).run()
    assert h.repo().status is Status.READY
    sha = h.git.commit(REMOTE, V2)
    h.request()
    return h, sha


def run_with_fault(at: int, lasting: int, embedder: FakeEmbedder | None) -> Run:
    h, sha = indexed_once(embedder)
    faults = Faults(at, lasting)

    def pipeline() -> IndexPipeline:
        return IndexPipeline(ports=faulty(h.ports, faults), config=h.config)

    sqs = SimulatedSqs(h.queue.pending, pipeline, after_each=lambda: assert_whole_generation(h))
    sqs.run()
    return Run(h, sqs, faults, sha)


def assert_whole_generation(h: FreshnessHarness) -> None:
    """What a reader resolves is a complete generation: its manifest and every segment."""
    repo = h.repos.get(REPO_ID)
    if repo is None or repo.generation is None:
        return
    key = layout.manifest_key(repo.generation.key)
    assert h.blobs.exists(key), "the pointer names a generation whose manifest is not written"
    manifest = decode_manifest(h.blobs.get(key))
    assert (manifest.sha, manifest.fence) == (repo.generation.sha, repo.generation.fence)
    missing = [key for key in manifest.segments.values() if not h.blobs.exists(key)]
    assert not missing, f"the published generation lacks {missing}"


def assert_ended(run: Run, context: str) -> None:
    repo = run.h.repo()
    assert repo.status in (Status.READY, Status.ERROR), f"{context}: {repo.status}"
    if repo.status is Status.READY:
        assert (repo.indexed_sha, repo.head_sha, repo.error) == (run.sha, run.sha, None), context
    else:
        assert repo.error and INJECTED not in repo.error and "/" not in repo.error, context
        assert repo.indexed_sha != run.sha, context  # an error never hides a newer index
    failures = [e for e in run.h.events.list(REPO_ID, 100).events if e.type == "IndexFailed"]
    assert all(INJECTED not in str(e.data) for e in failures), context
    held = run.h.locks.get(REPO_ID)
    if held is not None and held.owner:  # only a job that has ended may still hold it
        job = run.h.jobs.get(held.owner)
        assert job is not None and job.state in ENDED, f"{context}: lease held by {job}"


def assert_next_request_builds(run: Run, context: str) -> None:
    h = run.h
    newest = h.git.commit(REMOTE, {**V2, "pkg/later.py": "LATER = 2\n"})
    h.request()
    SimulatedSqs(h.queue.pending, h.pipeline).run()
    repo = h.repo()
    assert (repo.status, repo.indexed_sha, repo.head_sha) == (Status.READY, newest, newest), context
    assert_whole_generation(h)


def sweep_faults(lasting: int, embedder: Callable[[], FakeEmbedder | None]) -> list[Run]:
    runs: list[Run] = []
    for at in range(1, 10_000):
        run = run_with_fault(at, lasting, embedder())
        if run.faults.fired == 0:  # the run made fewer than `at` calls: every step is covered
            assert at > 30, "the clean run made suspiciously few port calls"
            return runs
        context = f"fault at call {at} in {run.faults.target}"
        assert_ended(run, context)
        run.ended = run.h.repo()
        events = run.h.events.list(REPO_ID, 100).events
        run.failures = tuple(e for e in events if e.type == EventType.INDEX_FAILED)
        assert_next_request_builds(run, context)
        runs.append(run)
    raise AssertionError("the runs never got past the fault")


EMBEDDERS = {"no-embedder": lambda: None, "embedder": FakeEmbedder}


@pytest.mark.parametrize("embedder", EMBEDDERS.values(), ids=EMBEDDERS.keys())
def test_a_brief_fault_at_any_step_is_retried_to_ready(
    embedder: Callable[[], FakeEmbedder | None],
) -> None:
    runs = sweep_faults(1, embedder)
    not_ready = [(r.faults.target, r.ended) for r in runs if r.ended.status is not Status.READY]
    assert not not_ready
    assert not any(r.sqs.dead for r in runs)  # one failure never exhausts the retries


@pytest.mark.parametrize("embedder", EMBEDDERS.values(), ids=EMBEDDERS.keys())
def test_a_fault_outlasting_the_retries_ends_the_job_in_error(
    embedder: Callable[[], FakeEmbedder | None],
) -> None:
    runs = sweep_faults(8, embedder)
    dead = [r for r in runs if r.sqs.dead]
    assert dead, "no fault outlasted its message's retries"
    queues = {m.queue for r in dead for m in r.sqs.dead}
    embeds = embedder() is not None
    assert queues == ({"index", "parse", "embed"} if embeds else {"index", "parse"})
    errors = [r for r in dead if r.ended.status is Status.ERROR]
    assert errors
    for r in errors:
        assert r.ended.error == RETRIES_EXHAUSTED, r.faults.target
        assert r.failures
        data = {k: v for k, v in r.failures[0].data.items() if k != "marked"}  # ADR 23
        assert data == {"sha": r.sha, "error": RETRIES_EXHAUSTED}


@pytest.mark.parametrize("copies", [2, 3])
def test_each_message_delivered_several_times_gives_a_byte_identical_generation(
    copies: int,
) -> None:
    def build(copies: int) -> dict[str, bytes]:
        h, _ = indexed_once(FakeEmbedder())
        SimulatedSqs(h.queue.pending, h.pipeline, copies=copies).run()
        assert h.repo().status is Status.READY
        assert h.blobs.keys("jobs/") == []
        return dict(h.blobs.objects)

    once, repeated = build(1), build(copies)
    assert repeated.keys() == once.keys()
    assert [k for k in once if repeated[k] != once[k]] == []
    generation = [k for k in once if k.startswith("repos/") and "/gen/" in k]
    assert len(generation) >= 4  # manifests, segments, history of two generations
