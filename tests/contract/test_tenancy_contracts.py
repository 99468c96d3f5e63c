"""Tenant registrations and usage: one set of assertions over the fake and the DynamoDB store.

The fake holds the same conditional semantics as the DynamoDB transaction (check the caps and
count in one step), so tests/unit/test_tenancy.py can race threads against it; here both are
held to the same outcomes, including a registration whose caller read the item before others
registered (the caps are checked by the store, not from the caller's read)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.domain.identity import ADMIN_TENANT
from chalicelib.domain.models import Generation, Repository, Stats, Status
from chalicelib.domain.tenancy import Quota, Usage
from chalicelib.errors import QuotaExceeded
from tests.fakes.stores import StoreSet
from tests.integration.conftest import MotoWorld

T0 = 1_700_000_000.0
SHA = "1" * 40
STATS = Stats(total_files=2, total_size=120)


def repo(name: str = "widgets") -> Repository:
    return Repository(id=f"github:acme:{name}", remote=f"https://github.com/acme/{name}.git")


def published(s: StoreSet, name: str = "widgets", stats: Stats = STATS) -> Repository:
    """A repository indexed once (by whoever), as the store reads it back."""
    r = s.repos.record_request(repo(name), sha=SHA, branch="main", force=False, now=T0)
    lease = s.locks.acquire(r.id, "job", 60, T0)
    s.repos.publish(r.id, Generation(f"repos/{name}/gen/1", SHA, lease.fence), stats, lease, T0)
    current = s.repos.get(r.id)
    assert current is not None
    return current


def test_a_registration_adds_the_tenant_once_and_counts_it_once(stores: StoreSet) -> None:
    assert stores.repos.register(repo(), "acme", quota=None) is True
    assert stores.repos.register(repo(), "acme", quota=None) is False  # from a stale read too
    item = stores.repos.get(repo().id)
    assert item is not None and item.tenants == {"acme"}
    assert (item.remote, item.status, item.generation) == (repo().remote, Status.IDLE, None)
    assert stores.repos.usage("acme") == Usage(1, 0)
    assert stores.repos.usage("nobody") == Usage()


def test_a_registration_counts_the_indexed_size_and_publishes_move_it(stores: StoreSet) -> None:
    indexed = published(stores)
    stores.repos.register(indexed, "acme", quota=None)
    stores.repos.register(repo(), "bravo", quota=None)  # registered before it was indexed
    stores.repos.add_indexed_bytes(indexed.id, 30)  # a publish grew it by 30 bytes
    assert stores.repos.usage("acme") == Usage(1, 150)
    assert stores.repos.usage("bravo") == Usage(1, 30)
    stores.repos.add_indexed_bytes(indexed.id, -50)
    assert stores.repos.usage("acme") == Usage(1, 100)


def test_tokens_are_kept_per_tenant(stores: StoreSet) -> None:
    stores.repos.register(repo(), "acme", quota=None, sealed_token="sealed-a")
    stores.repos.register(repo(), "bravo", quota=None, sealed_token="sealed-b")
    stores.repos.register(repo(), "acme", quota=None, sealed_token="sealed-a2")  # rotated
    item = stores.repos.get(repo().id)
    assert item is not None
    assert item.sealed_tokens == {"acme": "sealed-a2", "bravo": "sealed-b"}
    assert item.uses_server_token is False
    stores.repos.register(repo(), ADMIN_TENANT, quota=None, server_token=True)
    after = stores.repos.get(repo().id)
    assert after is not None and after.uses_server_token is True
    assert after.tenants == {"acme", "bravo", ADMIN_TENANT}


def test_a_registration_past_the_repository_cap_writes_nothing(stores: StoreSet) -> None:
    cap = Quota(max_repositories=2)
    stale = [repo(f"r{i}") for i in range(3)]  # read before any of them was registered
    assert stores.repos.register(stale[0], "acme", quota=cap)
    assert stores.repos.register(stale[1], "acme", quota=cap)
    with pytest.raises(QuotaExceeded, match="STRATA_TENANT_MAX_REPOSITORIES"):
        stores.repos.register(stale[2], "acme", quota=cap)
    gone = stores.repos.get(stale[2].id)
    assert gone is None or "acme" not in gone.tenants
    assert stores.repos.usage("acme") == Usage(2, 0)
    assert stores.repos.register(stale[0], "acme", quota=cap) is False  # at the cap: still fine
    assert stores.repos.register(stale[2], "bravo", quota=cap)  # another tenant's own count


def test_a_registration_past_the_byte_cap_writes_nothing(stores: StoreSet) -> None:
    first, second = published(stores, "a"), published(stores, "b")
    cap = Quota(max_bytes=200)
    stores.repos.register(first, "acme", quota=cap)
    with pytest.raises(QuotaExceeded, match="STRATA_TENANT_MAX_BYTES"):
        stores.repos.register(second, "acme", quota=cap)  # 120 + 120 > 200
    assert stores.repos.usage("acme") == Usage(1, 120)
    with pytest.raises(QuotaExceeded, match="STRATA_TENANT_MAX_BYTES"):
        stores.repos.register(second, "bravo", quota=Quota(max_bytes=100))  # alone too big


def test_an_owner_listing_holds_only_a_tenants_registrations(stores: StoreSet) -> None:
    stores.repos.register(repo("widgets"), "acme", quota=None)
    stores.repos.register(repo("gadgets"), "bravo", quota=None)
    stores.repos.register(repo("gizmos"), "acme", quota=None)
    stores.repos.register(repo("gizmos"), "bravo", quota=None)

    def ids(tenant: str | None) -> list[str]:
        return sorted(r.id for r in stores.repos.list_owned("acme", tenant=tenant))

    assert ids("acme") == ["github:acme:gizmos", "github:acme:widgets"]
    assert ids("bravo") == ["github:acme:gadgets", "github:acme:gizmos"]
    assert ids("carol") == []
    assert len(ids(None)) == 3


@pytest.fixture
def dynamo(moto_world: MotoWorld) -> Iterator[MotoWorld]:
    moto_world.wipe()
    yield moto_world


def test_a_token_stored_before_tenants_reads_as_the_admin_tenants(dynamo: MotoWorld) -> None:
    table = dynamo.settings.names.tables["repositories"]
    dynamo.client.put_item(
        TableName=table,
        Item={
            "repository_id": {"S": repo().id},
            "remote": {"S": repo().remote},
            "sealed_token": {"S": "sealed-old"},
        },
    )
    item = dynamo.stores.repos.get(repo().id)
    assert item is not None
    assert (item.tenants, item.sealed_tokens) == (frozenset(), {ADMIN_TENANT: "sealed-old"})
    dynamo.stores.repos.register(item, "acme", quota=None, sealed_token="sealed-a")
    after = dynamo.stores.repos.get(repo().id)
    assert after is not None
    assert after.sealed_tokens == {ADMIN_TENANT: "sealed-old", "acme": "sealed-a"}
