"""Dead letters and the other ways a job ends, one rule at a time (unit tier, fakes)."""

from __future__ import annotations

import pytest

from chalicelib.domain import layout
from chalicelib.domain.events import EventType
from chalicelib.domain.messages import (
    EmbedBatch,
    FinalizeGeneration,
    IndexRepository,
    Message,
    ParseBatch,
    StageBatches,
)
from chalicelib.domain.models import Job, JobState, Status
from chalicelib.services.job_endings import RETRIES_EXHAUSTED
from tests.fakes.models import FakeEmbedder
from tests.freshness_harness import FreshnessHarness
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES


@pytest.fixture
def h() -> FreshnessHarness:
    harness = FreshnessHarness()
    harness.git.commit(REMOTE, SAMPLE_FILES)
    return harness


def only_job(h: FreshnessHarness) -> Job:
    (job,) = h.jobs.jobs.values()
    return job


def failures(h: FreshnessHarness) -> list[dict[str, object]]:
    return [dict(e.data) for e in h.events.list(REPO_ID, 100).events if e.type == "IndexFailed"]


def kill(h: FreshnessHarness, kind: type[Message]) -> Message:
    """Run the pipeline, except that the first message of `kind` dies (its retries are
    exhausted): it is returned, as its DLQ would hold it."""
    dead: list[Message] = []

    def keep(m: Message) -> bool:
        if isinstance(m, kind) and not dead:
            dead.append(m)
            return False
        return True

    h.run(keep=keep)
    return dead[0]


@pytest.mark.parametrize("kind", [ParseBatch, FinalizeGeneration])
def test_a_dead_job_message_ends_its_job_in_error_and_frees_the_lease(
    h: FreshnessHarness, kind: type[Message]
) -> None:
    h.request()
    dead = kill(h, kind)
    assert h.repo().status is Status.INDEXING  # what reproducer 5 showed for ever

    h.pipeline().dead_letter(dead, dead.queue)

    repo, job = h.repo(), only_job(h)
    assert (repo.status, repo.error, job.state) == (
        Status.ERROR,
        RETRIES_EXHAUSTED,
        JobState.FAILED,
    )
    assert h.lease(REPO_ID).owner == ""
    assert failures(h) == [{"sha": job.sha, "error": RETRIES_EXHAUSTED}]
    h.request()  # the same head again: a repository in error indexes again when asked
    h.run()
    assert (h.repo().status, h.repo().indexed_sha) == (Status.READY, job.sha)


def test_a_dead_embed_batch_ends_its_job_in_error() -> None:
    h = FreshnessHarness(embedder=FakeEmbedder())
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    dead = kill(h, EmbedBatch)
    h.pipeline().dead_letter(dead, "embed")
    assert (h.repo().status, only_job(h).state) == (Status.ERROR, JobState.FAILED)


def test_a_dead_stage_batches_ends_its_job_in_error(h: FreshnessHarness) -> None:
    h.request()
    h.run(keep=lambda m: isinstance(m, IndexRepository))  # planned; the batches never ran
    job = only_job(h)
    h.pipeline().dead_letter(StageBatches(job.job_id, 1), "index")
    assert (h.repo().status, only_job(h).state) == (Status.ERROR, JobState.FAILED)


def test_a_dead_letter_handled_twice_changes_nothing_more(h: FreshnessHarness) -> None:
    h.request()
    dead = kill(h, ParseBatch)
    h.pipeline().dead_letter(dead, "parse")
    ended = (h.repo(), only_job(h), h.locks.get(REPO_ID), failures(h))
    h.pipeline().dead_letter(dead, "parse")
    assert (h.repo(), only_job(h), h.locks.get(REPO_ID), failures(h)) == ended


def test_a_dead_letter_of_an_old_job_never_clobbers_the_newer_one(h: FreshnessHarness) -> None:
    h.request()
    dead = kill(h, ParseBatch)  # the old job holds the lease and waits for that batch
    assert isinstance(dead, ParseBatch)
    h.clock.advance(h.config.lease_seconds + 1)  # its lease expires ...
    newest = h.git.commit(REMOTE, {**SAMPLE_FILES, "NEW.md": "# new\n"})
    h.request()
    h.run()  # ... and a newer job takes over and publishes
    published = h.repo()
    assert (published.status, published.indexed_sha) == (Status.READY, newest)

    h.pipeline().dead_letter(dead, "parse")

    assert h.repo() == published  # recorded only
    old = h.jobs.get(dead.job_id)
    assert old is not None and old.state in (JobState.FAILED, JobState.SUPERSEDED)


def test_a_dead_job_that_had_published_is_tidied_up_not_failed(h: FreshnessHarness) -> None:
    h.request()
    h.run()
    job = only_job(h)
    h.jobs.jobs[job.job_id] = Job(**{**job.__dict__, "state": JobState.FINALIZING})
    h.locks.items[REPO_ID] = job.lease  # as if the bookkeeping after publish kept failing

    h.pipeline().dead_letter(FinalizeGeneration(job.job_id), "index")

    assert (h.repo().status, only_job(h).state) == (Status.READY, JobState.PUBLISHED)
    assert h.lease(REPO_ID).owner == "" and failures(h) == []


def test_a_dead_index_request_ends_the_pending_request_in_error(h: FreshnessHarness) -> None:
    h.request()
    dead = h.queue.pending.popleft()  # every attempt failed (each freed the lease it took)

    h.pipeline().dead_letter(dead, "index")

    repo = h.repo()
    assert (repo.status, repo.error) == (Status.ERROR, RETRIES_EXHAUSTED)
    assert failures(h) == [{"sha": repo.requested_sha, "error": RETRIES_EXHAUSTED}]
    assert h.lease(REPO_ID).owner == ""
    h.pipeline().dead_letter(dead, "index")  # again: nothing more
    assert len(failures(h)) == 1
    h.request()
    h.run()
    assert h.repo().status is Status.READY


def test_a_dead_index_request_is_moot_while_a_live_job_indexes(h: FreshnessHarness) -> None:
    h.request()
    h.pipeline().handle(h.queue.pending.popleft(), "index")  # a job runs, holding the lease
    before = h.repo()
    h.pipeline().dead_letter(IndexRepository(REPO_ID), "index")
    assert h.repo() == before and failures(h) == []
    h.run()
    assert h.repo().status is Status.READY


def test_a_dead_index_request_for_a_repository_that_moved_on_is_moot(
    h: FreshnessHarness,
) -> None:
    h.request()
    h.run()
    before = h.repo()
    h.pipeline().dead_letter(IndexRepository(REPO_ID), "index")
    assert h.repo() == before and failures(h) == []


def test_a_request_waiting_on_a_failing_job_is_built_not_failed(h: FreshnessHarness) -> None:
    h.request()
    dead = kill(h, ParseBatch)
    newest = h.git.commit(REMOTE, {**SAMPLE_FILES, "NEW.md": "# new\n"})
    h.request()  # acknowledged without work: the failing job holds the lease
    h.run()
    assert h.repo().requested_sha == newest and h.repo().status is Status.INDEXING

    h.pipeline().dead_letter(dead, "parse")
    assert h.repo().status is Status.INDEXING  # not error: the newer request is pending
    h.run()

    assert (h.repo().status, h.repo().indexed_sha) == (Status.READY, newest)
    assert [f["sha"] for f in failures(h)] == [only_failed(h).sha]


def only_failed(h: FreshnessHarness) -> Job:
    (job,) = [j for j in h.jobs.jobs.values() if j.state is JobState.FAILED]
    return job


def test_a_lease_left_by_an_ended_job_does_not_hold_a_request_back(h: FreshnessHarness) -> None:
    h.request()
    h.run(keep=lambda m: isinstance(m, IndexRepository))
    job = only_job(h)
    h.jobs.transition(job.job_id, JobState.FAILED, allowed=list(JobState))  # died before release
    newest = h.git.commit(REMOTE, {**SAMPLE_FILES, "NEW.md": "# new\n"})

    assert h.request().status is Status.INDEXING and h.queue.pending  # not "under way"
    h.run()

    assert (h.repo().status, h.repo().indexed_sha) == (Status.READY, newest)


def test_a_permanent_failure_of_a_batch_ends_the_job_in_error() -> None:
    h = FreshnessHarness(embedder=FakeEmbedder())
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    h.run(keep=lambda m: not isinstance(m, EmbedBatch))
    job = only_job(h)
    del h.blobs.objects[layout.job_plan_key(job.job_id)]  # the plan object is gone for good

    h.pipeline().handle(EmbedBatch(job.job_id, 0), "embed")

    repo = h.repo()
    assert (repo.status, only_job(h).state) == (Status.ERROR, JobState.FAILED)
    assert repo.error == "an object of the index being built is missing"
    assert "jobs/" not in (repo.error or "")  # never the S3 key
    assert h.events.list(REPO_ID, 1).events[0].type == EventType.INDEX_FAILED
