"""What the scheduled sweep does for one repository (pure).

The sweep compares the branch head a remote reports (ls-remote, no fetch) with what the
repository item already knows: a head that moved is requested like a push; a repository
left `indexing` with no live lease for longer than a lease (its job died, or its message
was lost) is re-enqueued. Everything else is left alone, so running the sweep twice, or
next to a webhook, does nothing more than once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.models import Lease, Repository, Status


class SweepAction(StrEnum):
    NOTHING = "nothing"
    REQUEST = "request"  # index the remote head
    REENQUEUE = "reenqueue"  # the recorded request lost its worker: send it again


@dataclass(frozen=True)
class SweepDecision:
    action: SweepAction
    reason: str


def refreshes_automatically(repo: Repository) -> bool:
    """Whether the sweep looks at this repository at all (no remote call for the others)."""
    auto = repo.auto_refresh if repo.auto_refresh is not None else not repo.is_local
    return auto and repo.branch_deleted_at is None and bool(repo.remote)


def lease_is_live(lease: Lease | None, now: float) -> bool:
    return lease is not None and bool(lease.owner) and lease.lease_until >= now


def decide_sweep(
    repo: Repository, head_sha: str, lease: Lease | None, now: float, lease_seconds: float
) -> SweepDecision:
    if head_sha != _newest_known(repo):
        return SweepDecision(SweepAction.REQUEST, f"the branch head moved to {head_sha[:12]}")
    stuck = (
        repo.status is Status.INDEXING
        and not lease_is_live(lease, now)
        and now - (repo.updated_at or 0.0) > lease_seconds
    )
    if stuck:
        return SweepDecision(SweepAction.REENQUEUE, "indexing stalled: no live lease")
    return SweepDecision(SweepAction.NOTHING, "up to date")


def _newest_known(repo: Repository) -> str | None:
    """The SHA the item is working towards: requested if any, else indexed."""
    return repo.requested_sha or repo.indexed_sha
