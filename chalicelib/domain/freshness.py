"""How far behind its branch a repository's index is (pure)."""

from __future__ import annotations

from chalicelib.domain.models import Repository


def lag_seconds(repo: Repository, now: float) -> int:
    """Seconds since the unindexed head SHA was first seen (`requested_at`); 0 when the
    indexed SHA is the head, or nothing newer was ever seen."""
    if not repo.head_sha or repo.head_sha == repo.indexed_sha or repo.requested_at is None:
        return 0
    return max(0, int(now - repo.requested_at))
