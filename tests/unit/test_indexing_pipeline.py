"""The index -> parse -> finalize pipeline on fakes: protocol properties of DESIGN.md §4-5."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chalicelib.domain.messages import FinalizeGeneration, IndexRepository, ParseBatch
from chalicelib.domain.models import JobState, Status
from chalicelib.errors import AccessDenied, RemoteNotFound, TransientError
from chalicelib.parsers import PARSER_VERSION
from chalicelib.services.context import IndexConfig
from chalicelib.services.search import SearchQuery
from tests.fakes.aws import FakeBlobStore, FakeClock, FakeGitEngine
from tests.harness import ADMIN, REMOTE, REPO_ID, SAMPLE_FILES, Harness


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.git.commit(REMOTE, SAMPLE_FILES)
    return harness


def test_indexes_a_repository_to_ready_with_stats(h: Harness) -> None:
    outcome = h.request()
    assert outcome.status is Status.INDEXING
    h.run()
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.READY
    assert repo.indexed_sha == h.git.remotes[REMOTE].branches["main"]
    assert repo.stats.total_files == 4
    assert repo.stats.languages == {"markdown": 1, "python": 3}
    assert repo.stats.skipped == {"vendored": 1, "binary": 1}
    assert repo.stats.blobs_parsed == 5 and repo.stats.blobs_reused == 0
    assert repo.files_processed == repo.num_files == 5


def test_staging_objects_are_removed_after_publish(h: Harness) -> None:
    h.request()
    h.run()
    assert h.blobs.keys("jobs/") == []
    assert h.blobs.keys("repos/github/acme/widgets/gen/")


def test_same_head_answers_ready_without_work(h: Harness) -> None:
    h.request()
    h.run()
    sent = len(h.queue.sent)
    outcome = h.request()
    assert outcome.status is Status.READY
    assert len(h.queue.sent) == sent


def test_forced_reindex_of_unchanged_tree_parses_nothing(h: Harness) -> None:
    h.request()
    h.run()
    first = h.repos.get(REPO_ID)
    puts = h.blobs.puts
    h.request(force=True)
    h.run()
    repo = h.repos.get(REPO_ID)
    assert repo is not None and first is not None and first.generation and repo.generation
    assert repo.generation.fence > first.generation.fence
    assert repo.stats.blobs_parsed == 0 and repo.stats.blobs_reused == 5
    assert not any(isinstance(m, ParseBatch) for m in h.queue.sent[-3:])
    assert h.blobs.puts - puts == 2  # the plan and the new manifest; segments are shared


def test_new_commit_parses_only_changed_blobs(h: Harness) -> None:
    h.request()
    h.run()
    h.git.commit(REMOTE, {**SAMPLE_FILES, "widgets/config.py": "def parse_config():\n    pass\n"})
    h.request()
    h.run()
    repo = h.repos.get(REPO_ID)
    assert repo is not None
    assert repo.stats.blobs_parsed == 1 and repo.stats.blobs_reused == 4


def test_every_message_delivered_twice_gives_the_same_generation(h: Harness) -> None:
    twin = Harness()
    twin.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    h.run()
    twin.request()
    twin.run(duplicate=True)
    once, twice = h.repos.get(REPO_ID), twin.repos.get(REPO_ID)
    assert once is not None and twice is not None
    assert twice.status is Status.READY
    assert twice.stats == once.stats
    assert twice.generation == once.generation
    hits = [h.searcher().search(SearchQuery("parse config", (REPO_ID,))).hits for h in (h, twin)]
    assert hits[0] == hits[1]


def test_crash_between_plan_and_finalize_then_rerun_succeeds(h: Harness) -> None:
    h.request()
    # The parse workers die: their messages are never processed.
    h.run(keep=lambda m: not isinstance(m, ParseBatch))
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.INDEXING and repo.generation is None
    # While the dead job's lease is live, a new request does not start a competing job.
    assert h.request().status is Status.INDEXING and not h.queue.pending
    h.clock.advance(h.config.lease_seconds + 1)
    h.request()
    h.run()
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.READY
    assert repo.generation is not None and repo.generation.fence == 2


def test_stale_holder_cannot_publish_after_takeover(h: Harness) -> None:
    h.request()
    h.run(keep=lambda m: not isinstance(m, FinalizeGeneration))
    stale_job = next(j for j in h.jobs.jobs.values())
    h.clock.advance(h.config.lease_seconds + 1)
    h.request(force=True)
    h.run()
    winner = h.repos.get(REPO_ID)
    assert winner is not None and winner.generation is not None
    # The paused first job wakes up and tries to finalize: rejected, result unchanged.
    assert h.pipeline().publisher.finalize(stale_job.job_id) is None
    assert h.job(stale_job.job_id).state is JobState.SUPERSEDED
    assert h.repos.get(REPO_ID) == winner


def test_publish_needs_the_lease(h: Harness) -> None:
    h.request()
    h.run(keep=lambda m: not isinstance(m, FinalizeGeneration))
    job = next(iter(h.jobs.jobs.values()))
    h.clock.advance(h.config.lease_seconds + 1)
    intruder = h.locks.acquire(REPO_ID, "intruder", 60, h.clock.now())
    objects = h.blobs.keys()

    # The job finishes parsing after its lease was taken over, and tries to publish.
    assert h.pipeline().publisher.finalize(job.job_id) is None

    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.generation is None and repo.status is Status.INDEXING
    assert h.job(job.job_id).state is JobState.SUPERSEDED
    assert h.blobs.keys() == objects  # found before building: not even a manifest
    assert h.locks.get(REPO_ID) == intruder  # the new owner's lease is left alone


class SlowManifestWrite(FakeBlobStore):
    """A build slow enough to outlive its lease: `seconds` pass while the manifest is written."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.seconds = 0.0

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        if key.endswith("/manifest.json.gz"):
            self.clock.advance(self.seconds)
        return super().put(key, data, if_absent=if_absent)


def test_a_build_that_outlives_its_lease_renews_it_for_the_fenced_publish() -> None:
    clock = FakeClock()
    blobs = SlowManifestWrite(clock)
    h = Harness(clock=clock, blobs=blobs)
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    h.run(keep=lambda m: not isinstance(m, FinalizeGeneration))
    job = next(iter(h.jobs.jobs.values()))
    blobs.seconds = h.config.lease_seconds + 1  # nobody takes the lease over meanwhile

    generation = h.pipeline().publisher.finalize(job.job_id)

    repo = h.repos.get(REPO_ID)
    assert generation is not None and repo is not None
    assert (repo.status, repo.generation) == (Status.READY, generation)
    assert h.job(job.job_id).state is JobState.PUBLISHED


def test_concurrent_requests_coalesce_into_the_newest_sha(h: Harness) -> None:
    h.request()
    first_job = h.queue.pending.popleft()
    h.pipeline().handle(first_job, "index")  # job 1 holds the lease, building sha 1
    newest = h.git.commit(REMOTE, {**SAMPLE_FILES, "NEW.md": "# new\n"})
    h.request()  # arrives while job 1 runs: acknowledged, picked up on release
    h.run()
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.indexed_sha == newest and repo.status is Status.READY


def test_unknown_remote_is_rejected_before_any_work(h: Harness) -> None:
    with pytest.raises(RemoteNotFound):
        h.request(repository_id="github:acme:missing")
    assert not h.queue.sent


def test_private_remote_uses_the_server_token_in_scope_as_an_admins_fallback() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.git.remotes[REMOTE].token = "server-secret"
    with pytest.raises(AccessDenied):
        h.request(ADMIN, access_token="wrong")
    h.config = IndexConfig(
        batch_files=2, server_git_token="server-secret", git_token_scope=("github.com/acme",)
    )
    with pytest.raises(AccessDenied):  # not for a tenant's index key
        h.request(access_token="wrong")
    assert h.request(ADMIN, access_token="wrong").status is Status.INDEXING
    h.run()
    repo = h.repo()
    assert repo.status is Status.READY
    assert (set(repo.tenants), dict(repo.sealed_tokens), repo.uses_server_token) == (
        {"admin"},
        {},
        True,
    )


def test_remote_deleted_after_request_ends_in_error(h: Harness) -> None:
    h.request()
    del h.git.remotes[REMOTE]
    h.run()
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.ERROR and repo.error
    assert h.lease(REPO_ID).owner == ""


def test_index_message_for_an_unregistered_repository_is_dropped(h: Harness) -> None:
    from chalicelib.errors import PermanentError

    with pytest.raises(PermanentError, match="no index was requested"):
        h.pipeline().handle(IndexRepository("github:acme:ghost"), "index")


class FlakyGit(FakeGitEngine):
    """The fake git engine, except that the next `fetch` times out."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next_fetch = False

    def fetch(self, remote: str, branch: str, sha: str, credentials: Sequence[str | None]) -> None:
        if self.fail_next_fetch:
            self.fail_next_fetch = False
            raise TransientError("connection reset")
        super().fetch(remote, branch, sha, credentials)


def test_a_transient_plan_failure_frees_the_lease_for_the_retry() -> None:
    flaky = FlakyGit()
    h = Harness(git=flaky)
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    message = h.queue.pending.popleft()
    flaky.fail_next_fetch = True
    with pytest.raises(TransientError):
        h.pipeline().handle(message, "index")
    assert h.lease(REPO_ID).owner == ""
    h.pipeline().handle(message, "index")  # SQS redelivers the same message
    h.run()
    assert h.repo().status is Status.READY


def test_a_corrupt_staged_batch_ends_the_job_in_error(h: Harness) -> None:
    h.request()
    h.run(keep=lambda m: not isinstance(m, ParseBatch) or m.batch != 0)
    job = next(iter(h.jobs.jobs.values()))
    key = next(k for k in h.blobs.keys("jobs/") if k.endswith("batch-000000.bin"))
    h.blobs.objects[key] = b"garbage"
    h.pipeline().handle(ParseBatch(job.job_id, 0), "parse")
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.ERROR and "corrupt" in (repo.error or "")


def test_a_missing_artifact_at_finalize_ends_the_job_in_error(h: Harness) -> None:
    h.request()
    h.run(keep=lambda m: not isinstance(m, FinalizeGeneration))
    job = next(iter(h.jobs.jobs.values()))
    artifacts = [k for k in h.blobs.keys("blobs/") if "/bundles/" not in k]
    bundles = h.blobs.keys(f"blobs/{PARSER_VERSION}/bundles/")  # they hold every artifact too
    for key in artifacts[:1] + bundles:
        del h.blobs.objects[key]
    h.pipeline().handle(FinalizeGeneration(job.job_id), "index")
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.ERROR and repo.generation is None
    assert h.job(job.job_id).state is JobState.FAILED
