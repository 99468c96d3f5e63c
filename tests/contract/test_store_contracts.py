"""One set of assertions for the store ports, run over the fakes and the DynamoDB stores."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.domain.models import Generation, Job, JobState, Lease, Repository, Stats, Status
from chalicelib.errors import AlreadyExists, LeaseHeld, LeaseLost, NotFound
from chalicelib.ports import Turn
from tests.fakes.stores import StoreSet

REPO_ID = "github:acme:widgets"
REMOTE = "https://github.com/acme/widgets.git"
SHA1, SHA2 = "1" * 40, "2" * 40
T0 = 1_700_000_000.0
TTL = 60.0
STATS = Stats(total_files=3, total_size=120, languages={"python": 2}, extensions={".py": 2})


def request_index(s: StoreSet, sha: str = SHA1, *, force: bool = False) -> Repository:
    return s.repos.record_request(
        Repository(id=REPO_ID, remote=REMOTE), sha=sha, branch="main", force=force, now=T0
    )


def generation(lease: Lease, sha: str = SHA1) -> Generation:
    return Generation(key=f"repos/widgets/gen/{lease.fence}-{sha}", sha=sha, fence=lease.fence)


def make_job(lease: Lease, job_id: str = "job-1", **changes: Any) -> Job:
    job = Job(
        job_id=job_id,
        repository_id=REPO_ID,
        sha=SHA1,
        fence=lease.fence,
        owner=lease.owner,
        created_at=T0,
    )
    return replace(job, **changes)


# Locks


def test_first_acquire_of_a_new_lock_gets_fence_one(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    assert lease == Lease(REPO_ID, "a", 1, T0 + TTL)
    assert stores.locks.get(REPO_ID) == lease


def test_another_owner_cannot_acquire_a_live_lease(stores: StoreSet) -> None:
    stores.locks.acquire(REPO_ID, "a", TTL, T0)
    with pytest.raises(LeaseHeld, match="held by another owner"):
        stores.locks.acquire(REPO_ID, "b", TTL, T0 + TTL - 1)


def test_expired_lease_is_taken_over_with_the_next_fence(stores: StoreSet) -> None:
    stores.locks.acquire(REPO_ID, "a", TTL, T0)
    lease = stores.locks.acquire(REPO_ID, "b", TTL, T0 + TTL + 1)
    assert (lease.owner, lease.fence) == ("b", 2)


def test_same_owner_reacquires_with_the_same_fence_and_a_longer_lease(stores: StoreSet) -> None:
    stores.locks.acquire(REPO_ID, "a", TTL, T0)
    again = stores.locks.acquire(REPO_ID, "a", TTL, T0 + 10)
    assert (again.fence, again.lease_until) == (1, T0 + 10 + TTL)


def test_same_owner_reacquires_a_lapsed_lease_nobody_took_with_the_same_fence(
    stores: StoreSet,
) -> None:
    stores.locks.acquire(REPO_ID, "a", TTL, T0)
    assert stores.locks.acquire(REPO_ID, "a", TTL, T0 + TTL + 5).fence == 1


def test_heartbeat_extends_the_lease(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    renewed = stores.locks.heartbeat(lease, TTL, T0 + 30)
    assert renewed == Lease(REPO_ID, "a", 1, T0 + 30 + TTL)


def test_heartbeat_after_expiry_succeeds_while_nobody_took_over(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    assert stores.locks.heartbeat(lease, TTL, T0 + TTL + 5).lease_until == T0 + 2 * TTL + 5


def test_heartbeat_by_a_stale_holder_raises_lease_lost(stores: StoreSet) -> None:
    stale = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.locks.acquire(REPO_ID, "b", TTL, T0 + TTL + 1)
    with pytest.raises(LeaseLost, match="taken over"):
        stores.locks.heartbeat(stale, TTL, T0 + TTL + 2)


def test_release_keeps_the_fence_and_the_next_acquire_bumps_it(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.locks.release(lease)
    released = stores.locks.get(REPO_ID)
    assert released is not None and (released.owner, released.fence) == ("", 1)
    assert stores.locks.acquire(REPO_ID, "b", TTL, T0 + 1).fence == 2


def test_release_by_a_stale_holder_leaves_the_new_owner_alone(stores: StoreSet) -> None:
    stale = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    current = stores.locks.acquire(REPO_ID, "b", TTL, T0 + TTL + 1)
    stores.locks.release(stale)
    assert stores.locks.get(REPO_ID) == current


def test_unknown_lock_is_none(stores: StoreSet) -> None:
    assert stores.locks.get("nobody:ever") is None


# Repositories


def test_unknown_repository_is_none(stores: StoreSet) -> None:
    assert stores.repos.get(REPO_ID) is None


def test_record_request_creates_an_indexing_item(stores: StoreSet) -> None:
    repo = request_index(stores)
    assert repo == stores.repos.get(REPO_ID)
    assert (repo.remote, repo.branch, repo.status) == (REMOTE, "main", Status.INDEXING)
    assert (repo.head_sha, repo.requested_sha, repo.requested_at) == (SHA1, SHA1, T0)
    assert (repo.generation, repo.force_requested) == (None, False)
    assert (repo.tenants, repo.sealed_tokens) == (frozenset(), {})  # register() adds them


def test_record_request_preserves_the_previous_generation(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.publish(REPO_ID, generation(lease), STATS, lease, T0 + 1)
    repo = request_index(stores, SHA2)
    assert repo.generation == generation(lease)
    assert (repo.indexed_sha, repo.requested_sha, repo.status) == (SHA1, SHA2, Status.INDEXING)
    assert repo.stats == STATS


def test_pending_force_survives_an_unforced_request_until_a_job_starts(stores: StoreSet) -> None:
    request_index(stores, force=True)
    assert request_index(stores, SHA2).force_requested is True
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.start_job(REPO_ID, make_job(lease, num_files=4), lease, T0 + 1, embedding=False)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and repo.force_requested is False


def test_record_request_keeps_tenants_and_their_tokens(stores: StoreSet) -> None:
    stores.repos.register(
        Repository(id=REPO_ID, remote=REMOTE), "acme", quota=None, sealed_token="sealed-token"
    )
    repo = request_index(stores, SHA2)
    assert (set(repo.tenants), dict(repo.sealed_tokens)) == ({"acme"}, {"acme": "sealed-token"})


def test_start_job_points_at_the_job_and_resets_progress(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    job = make_job(lease, num_files=9, files_processed=2)
    stores.repos.start_job(REPO_ID, job, lease, T0, embedding=False)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None
    assert (repo.job_id, repo.num_files, repo.files_processed) == ("job-1", 9, 2)
    assert repo.files_embedded is None
    stores.repos.start_job(REPO_ID, replace(job, job_id="job-2"), lease, T0, embedding=True)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and (repo.job_id, repo.files_embedded) == ("job-2", 2)


def test_start_job_by_a_stale_holder_raises_lease_lost(stores: StoreSet) -> None:
    request_index(stores)
    stale = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.locks.acquire(REPO_ID, "b", TTL, T0 + TTL + 1)
    with pytest.raises(LeaseLost, match="stale"):
        stores.repos.start_job(REPO_ID, make_job(stale), stale, T0 + TTL + 2, embedding=False)


def test_progress_counts_only_for_the_current_job(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.start_job(REPO_ID, make_job(lease, num_files=9), lease, T0, embedding=True)
    stores.repos.add_progress(REPO_ID, "job-1", parsed=3)
    stores.repos.add_progress(REPO_ID, "job-1", parsed=2, embedded=3)
    stores.repos.add_progress(REPO_ID, "superseded-job", parsed=100, embedded=100)
    stores.repos.add_progress("unknown:repo", "job-1", parsed=100)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and (repo.files_processed, repo.files_embedded) == (5, 3)
    assert stores.repos.get("unknown:repo") is None


def test_publish_by_the_current_holder_makes_the_generation_current(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.start_job(REPO_ID, make_job(lease, num_files=3), lease, T0, embedding=False)
    stores.repos.publish(REPO_ID, generation(lease), STATS, lease, T0 + 5)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None
    assert (repo.generation, repo.indexed_sha, repo.status) == (
        generation(lease),
        SHA1,
        Status.READY,
    )
    assert (repo.stats, repo.indexed_at, repo.files_processed, repo.error) == (
        STATS,
        T0 + 5,
        3,
        None,
    )


def test_stale_holder_cannot_publish_after_takeover(stores: StoreSet) -> None:
    request_index(stores)
    stale = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    later = T0 + TTL + 1
    winner = stores.locks.acquire(REPO_ID, "b", TTL, later)
    stores.repos.publish(REPO_ID, generation(winner, SHA2), STATS, winner, later)
    with pytest.raises(LeaseLost, match="stale"):
        stores.repos.publish(REPO_ID, generation(stale), Stats(), stale, later + 1)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and repo.generation == generation(winner, SHA2)
    assert repo.stats == STATS


def test_publish_below_the_stored_generation_fence_raises_lease_lost(stores: StoreSet) -> None:
    request_index(stores)
    first = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.locks.release(first)
    second = stores.locks.acquire(REPO_ID, "b", TTL, T0)
    stores.repos.publish(REPO_ID, generation(second), STATS, second, T0)
    stores.locks.release(second)
    third = stores.locks.acquire(REPO_ID, "c", TTL, T0)
    old = Generation(key="repos/widgets/gen/1-old", sha=SHA2, fence=first.fence)
    with pytest.raises(LeaseLost, match="stale"):
        stores.repos.publish(REPO_ID, old, Stats(), third, T0)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and repo.generation == generation(second)


def test_publish_of_a_generation_above_the_lease_fence_raises_lease_lost(
    stores: StoreSet,
) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    ahead = Generation(key="repos/widgets/gen/7", sha=SHA1, fence=7)
    with pytest.raises(LeaseLost, match="above lease fence"):
        stores.repos.publish(REPO_ID, ahead, STATS, lease, T0)


def test_publish_after_the_lease_expired_raises_lease_lost(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    with pytest.raises(LeaseLost, match="stale"):
        stores.repos.publish(REPO_ID, generation(lease), STATS, lease, T0 + TTL + 1)


def test_fenced_write_to_an_unknown_repository_raises_lease_lost(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    with pytest.raises(LeaseLost, match="stale"):
        stores.repos.mark_up_to_date(REPO_ID, lease, T0)
    assert stores.repos.get(REPO_ID) is None


def test_mark_up_to_date_returns_to_ready_without_a_generation(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.mark_failed(REPO_ID, "boom", lease, T0)
    stores.repos.mark_up_to_date(REPO_ID, lease, T0 + 1)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None
    assert (repo.status, repo.error, repo.updated_at, repo.generation) == (
        Status.READY,
        None,
        T0 + 1,
        None,
    )


def test_mark_failed_records_a_truncated_message(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.mark_failed(REPO_ID, "x" * 2000, lease, T0)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.ERROR
    assert repo.error == "x" * 500


def test_mark_failed_can_put_back_the_head_the_branch_really_has(stores: StoreSet) -> None:
    request_index(stores, SHA2)  # a SHA the branch does not hold
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.mark_failed(REPO_ID, "not on the branch", lease, T0, head_sha=SHA1)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None
    assert (repo.status, repo.head_sha, repo.requested_sha) == (Status.ERROR, SHA1, SHA2)
    stores.repos.mark_failed(REPO_ID, "again", lease, T0)
    again = stores.repos.get(REPO_ID)
    assert again is not None and again.head_sha == SHA1  # no head given: left alone


def test_start_job_clears_an_error_recorded_while_the_request_waited(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.mark_failed(REPO_ID, "the last job failed", lease, T0)
    stores.repos.start_job(REPO_ID, make_job(lease), lease, T0 + 1, embedding=False)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and (repo.status, repo.error) == (Status.INDEXING, None)


def test_mark_failed_by_a_stale_holder_raises_lease_lost(stores: StoreSet) -> None:
    request_index(stores)
    stale = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.locks.release(stale)
    with pytest.raises(LeaseLost, match="stale"):
        stores.repos.mark_failed(REPO_ID, "late", stale, T0)
    repo = stores.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.INDEXING


def test_a_new_request_clears_the_last_error(stores: StoreSet) -> None:
    request_index(stores)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.repos.mark_failed(REPO_ID, "boom", lease, T0)
    assert request_index(stores, SHA2).error is None


# Jobs


def test_created_job_reads_back_with_its_base_generation(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    job = make_job(lease, base_generation=Generation("repos/widgets/gen/0-x", SHA2, 0))
    stores.jobs.create(job)
    assert stores.jobs.get(job.job_id) == job
    assert stores.jobs.get("no-such-job") is None


def test_creating_a_job_twice_raises_already_exists(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.jobs.create(make_job(lease))
    with pytest.raises(AlreadyExists, match="job-1"):
        stores.jobs.create(make_job(lease))


def test_set_plan_records_the_fan_out(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.jobs.create(make_job(lease))
    stores.jobs.set_plan("job-1", total_batches=3, num_files=7)
    job = stores.jobs.get("job-1")
    assert job is not None
    assert (job.total_batches, job.outstanding, job.num_files, job.state) == (
        3,
        3,
        7,
        JobState.PARSING,
    )


def test_set_plan_counts_known_batches_done_once(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.jobs.create(make_job(lease))
    stores.jobs.set_plan("job-1", total_batches=6, num_files=7, known_batches=[0, 2], known_files=4)
    job = stores.jobs.get("job-1")
    assert job is not None
    assert (job.outstanding, job.files_processed, job.blobs_reused) == (4, 4, 4)
    # A resumed staging's parse batch of a known batch is a redelivery: not counted again.
    assert stores.jobs.complete_batch("job-1", 2, files=2, parsed=0, reused=2) is None
    assert stores.jobs.complete_batch("job-1", 1, files=3, parsed=3, reused=0) == 3


def test_set_plan_of_an_unknown_job_raises_not_found(stores: StoreSet) -> None:
    with pytest.raises(NotFound, match="no-such-job"):
        stores.jobs.set_plan("no-such-job", total_batches=1, num_files=1)


def test_complete_batch_counts_each_batch_once(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.jobs.create(make_job(lease))
    stores.jobs.set_plan("job-1", total_batches=2, num_files=5)
    assert stores.jobs.complete_batch("job-1", 0, files=3, parsed=2, reused=1) == 1
    assert stores.jobs.complete_batch("job-1", 0, files=3, parsed=2, reused=1) is None
    job = stores.jobs.get("job-1")
    assert job is not None
    assert (job.outstanding, job.files_processed, job.blobs_parsed, job.blobs_reused) == (
        1,
        3,
        2,
        1,
    )


def test_outstanding_reaches_zero_when_every_batch_is_done(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.jobs.create(make_job(lease))
    stores.jobs.set_plan("job-1", total_batches=2, num_files=4)
    stores.jobs.complete_batch("job-1", 1, files=2, parsed=2, reused=0)
    assert stores.jobs.complete_batch("job-1", 0, files=2, parsed=1, reused=1) == 0
    assert stores.jobs.complete_batch("job-1", 1, files=2, parsed=2, reused=0) is None


def test_complete_batch_of_an_unknown_job_raises_not_found(stores: StoreSet) -> None:
    with pytest.raises(NotFound, match="no-such-job"):
        stores.jobs.complete_batch("no-such-job", 0, files=1, parsed=1, reused=0)


def test_transition_moves_only_from_an_allowed_state(stores: StoreSet) -> None:
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.jobs.create(make_job(lease))
    assert not stores.jobs.transition("job-1", JobState.FINALIZING, allowed=[JobState.PARSING])
    assert stores.jobs.transition("job-1", JobState.PARSING, allowed=[JobState.PLANNING])
    assert stores.jobs.transition(
        "job-1", JobState.FINALIZING, allowed=[JobState.PARSING, JobState.FINALIZING]
    )
    job = stores.jobs.get("job-1")
    assert job is not None and job.state is JobState.FINALIZING


def test_transition_of_an_unknown_job_or_to_nowhere_is_false(stores: StoreSet) -> None:
    assert not stores.jobs.transition("no-such-job", JobState.FAILED, allowed=list(JobState))
    assert stores.jobs.get("no-such-job") is None
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    stores.jobs.create(make_job(lease))
    assert not stores.jobs.transition("job-1", JobState.FAILED, allowed=[])


# Conversations


def test_unknown_conversation_has_no_history(stores: StoreSet) -> None:
    assert stores.conversations.history("nobody") == []


def test_appended_turns_come_back_in_order(stores: StoreSet) -> None:
    stores.conversations.append("c1", Turn("q1", "a1"), expires_at=T0)
    stores.conversations.append("c1", Turn("q2", "a2"), expires_at=T0 + 1)
    stores.conversations.append("c2", Turn("other", "conversation"), expires_at=T0)
    assert stores.conversations.history("c1") == [Turn("q1", "a1"), Turn("q2", "a2")]


def test_a_turn_keeps_its_repository_and_cited_paths(stores: StoreSet) -> None:
    bound = Turn("q1", "a1", "github:acme:widgets", ("widgets/config.py", "README.md"))
    stores.conversations.append("c1", bound, expires_at=T0)
    stores.conversations.append("c1", Turn("q2", "a2", "github:acme:widgets"), expires_at=T0)
    assert stores.conversations.history("c1") == [bound, Turn("q2", "a2", "github:acme:widgets")]


def test_history_keeps_only_the_last_twenty_turns(stores: StoreSet) -> None:
    for n in range(25):
        stores.conversations.append("c1", Turn(f"q{n}", f"a{n}"), expires_at=T0)
    history = stores.conversations.history("c1")
    assert [t.question for t in history] == [f"q{n}" for n in range(5, 25)]
