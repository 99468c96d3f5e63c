"""The repository store's two-step publish (ADR 11, revised), over the fake and DynamoDB: a
lexical publish (`same_fence=False`) never replaces a publish of its own fence, the vector
publish of the same fence does."""

from __future__ import annotations

import pytest

from chalicelib.domain.models import Generation, Repository, Stats
from chalicelib.errors import LeaseLost
from tests.fakes.stores import StoreSet

REPO_ID = "github:acme:widgets"
SHA = "1" * 40
T0 = 1_700_000_000.0
TTL = 60.0


def test_a_lexical_publish_never_replaces_the_vector_publish_of_its_fence(
    stores: StoreSet,
) -> None:
    repo = Repository(id=REPO_ID, remote="https://github.com/acme/widgets.git")
    stores.repos.record_request(repo, sha=SHA, branch="main", force=False, now=T0)
    lease = stores.locks.acquire(REPO_ID, "a", TTL, T0)
    prefix = f"repos/widgets/gen/{lease.fence}-{SHA}"
    lexical = Generation(key=prefix, sha=SHA, fence=lease.fence)
    embedded = Generation(key=f"{prefix}/embedded", sha=SHA, fence=lease.fence)
    stores.repos.publish(REPO_ID, lexical, Stats(), lease, T0 + 1, same_fence=False)
    model = Stats(embedding_model="m")
    stores.repos.publish(REPO_ID, embedded, model, lease, T0 + 2)
    with pytest.raises(LeaseLost):
        stores.repos.publish(REPO_ID, lexical, Stats(), lease, T0 + 3, same_fence=False)
    current = stores.repos.get(REPO_ID)
    assert current is not None
    assert (current.generation, current.stats.embedding_model) == (embedded, "m")
