"""Tenant registrations on DynamoDB (pynamodb): the `tenants` of a repository item, each
tenant's sealed token on it, and per-tenant usage in `{prefix}-tenants`. Used by
DynamoRepoStore (dynamo_stores.py), which exposes these as RepoStore methods.

AWS resources and IAM actions:
- `{prefix}-repositories`: dynamodb:UpdateItem (tokens, server-token flag), dynamodb:GetItem,
  dynamodb:TransactWriteItems (with the tenants table).
- `{prefix}-tenants`: dynamodb:GetItem, dynamodb:UpdateItem, dynamodb:TransactWriteItems.

A new registration is one transaction: ADD the tenant to the repository's `tenants` (on
condition it is not there yet) and ADD one repository and the repository's known size to the
tenant's usage (on condition the caps still hold). Concurrent registrations of one tenant
therefore never pass its caps: each transaction checks the count it increments. When the
transaction is cancelled, the items are read again to tell "registered meanwhile" from
"over a cap".
"""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import Models, RepositoryItem
from chalicelib.domain.identity import ADMIN_TENANT
from chalicelib.domain.models import Repository
from chalicelib.domain.tenancy import Quota, Usage, quota_refusal
from chalicelib.errors import QuotaExceeded, TransientError

_ATTEMPTS = 3


def tenancy_fields(item: RepositoryItem) -> dict[str, Any]:
    """The Repository fields kept for tenancy. A `sealed_token` written before tenants
    existed reads as the admin tenant's token."""
    tokens: dict[str, str] = {}
    if item.sealed_tokens is not None:
        raw = item.sealed_tokens.as_dict()  # type: ignore[no-untyped-call]  # unannotated
        tokens = {str(k): str(v) for k, v in raw.items() if v}
    if item.sealed_token and ADMIN_TENANT not in tokens:
        tokens[ADMIN_TENANT] = item.sealed_token
    return {
        "tenants": frozenset(item.tenants or ()),
        "sealed_tokens": tokens,
        "uses_server_token": bool(item.uses_server_token),
    }


class DynamoTenancy:
    def __init__(self, models: Models) -> None:
        self._repos = models.repositories
        self._tenants = models.tenants
        self._connection = Connection(region=models.region, host=models.host)

    def register(
        self,
        repo: Repository,
        tenant: str,
        *,
        quota: Quota | None,
        sealed_token: str | None = None,
        server_token: bool = False,
    ) -> bool:
        added = tenant not in repo.tenants and self._add(repo, tenant, quota)
        if sealed_token is not None:
            self._store_token(repo.id, tenant, sealed_token)
        if server_token and not repo.uses_server_token:
            m = self._repos
            with translated(f"record the server token's use for {repo.id}"):
                m(repo.id).update(actions=[m.uses_server_token.set(True)])
        return added

    def usage(self, tenant: str) -> Usage:
        with translated(f"get usage of tenant {tenant}"):
            try:
                item = self._tenants.get(tenant, consistent_read=True)
            except self._tenants.DoesNotExist:
                return Usage()
        return Usage(int(item.repositories or 0), int(item.bytes or 0))

    def add_indexed_bytes(self, repository_id: str, delta: int) -> None:
        if not delta:
            return
        m, t = self._repos, self._tenants
        with translated(f"count the indexed bytes of {repository_id}"):
            try:
                item = m.get(repository_id, consistent_read=True, attributes_to_get=["tenants"])
            except m.DoesNotExist:
                return
            for tenant in sorted(item.tenants or ()):
                t(tenant).update(actions=[t.bytes.add(delta), t.repositories.add(0)])

    def _add(self, repo: Repository, tenant: str, quota: Quota | None) -> bool:
        """Add the tenant and count it, in one transaction; False when it was there."""
        size = max(0, repo.stats.total_size) if repo.generation else 0
        refusal = quota_refusal(Usage(), size, quota)  # this repository alone is too big
        if refusal:
            raise QuotaExceeded(refusal)
        m, t = self._repos, self._tenants
        for _ in range(_ATTEMPTS):
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    transaction.update(
                        t(tenant),
                        [t.repositories.add(1), t.bytes.add(size)],
                        condition=self._within(quota, size),
                    )
                    transaction.update(
                        m(repo.id),
                        [
                            m.tenants.add({tenant}),
                            m.remote.set(m.remote | repo.remote),
                            m.is_local.set(m.is_local | repo.is_local),
                        ],
                        condition=~m.tenants.contains(tenant),
                    )
                return True
            except DYNAMO_ERRORS as exc:
                if not is_condition_failure(exc):
                    raise translate(exc, f"register {tenant} for {repo.id}") from exc
            if tenant in self._registered(repo.id):
                return False  # a concurrent request of the same tenant got there first
            refusal = quota_refusal(self.usage(tenant), size, quota)
            if refusal:
                raise QuotaExceeded(refusal)
        raise TransientError(f"the registration of {repo.id} kept conflicting; try again")

    def _within(self, quota: Quota | None, size: int) -> Condition | None:
        """The usage item's caps, as a condition (an absent count is zero)."""
        if quota is None:
            return None
        t = self._tenants
        condition: Condition | None = None
        if quota.max_repositories > 0:
            condition = t.repositories.does_not_exist() | (t.repositories < quota.max_repositories)
        if quota.max_bytes > 0:
            # below the cap, and room for this repository's bytes (see quota_refusal)
            room = t.bytes.does_not_exist() | (t.bytes <= quota.max_bytes - max(size, 1))
            condition = room if condition is None else condition & room
        return condition

    def _registered(self, repository_id: str) -> frozenset[str]:
        m = self._repos
        with translated(f"get tenants of {repository_id}"):
            try:
                item = m.get(repository_id, consistent_read=True, attributes_to_get=["tenants"])
            except m.DoesNotExist:
                return frozenset()
        return frozenset(item.tenants or ())

    def _store_token(self, repository_id: str, tenant: str, sealed: str) -> None:
        """Set one entry of the `sealed_tokens` map. DynamoDB cannot set a key of a map
        that does not exist, nor create the map and set a key in one update: set the key
        when the map exists, else create the map when it does not, and repeat on a race."""
        m = self._repos
        writes = [
            ([m.sealed_tokens[tenant].set(sealed)], m.sealed_tokens.exists()),
            ([m.sealed_tokens.set({tenant: sealed})], m.sealed_tokens.does_not_exist()),
        ]
        for _ in range(_ATTEMPTS):
            for actions, condition in writes:
                try:
                    m(repository_id).update(actions=actions, condition=condition)
                    return
                except DYNAMO_ERRORS as exc:
                    if not is_condition_failure(exc):
                        raise translate(exc, f"store a token for {repository_id}") from exc
        raise TransientError(f"the token of {repository_id} could not be stored; try again")
