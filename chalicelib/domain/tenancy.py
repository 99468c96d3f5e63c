"""Tenants: who may see a repository, and how much a tenant may register. Pure.

A repository belongs to the tenants that registered it (the `tenants` of its item): each one
proved that the remote accepts its own credentials. Only they, and admin-scoped callers, see
it; to anyone else it answers exactly as an unknown repository does. Index artifacts stay
shared underneath (content-addressed), so a second tenant's registration costs no parsing.

Quotas cap what one tenant registers: repositories, and indexed bytes (a repository counts
its `stats.total_size`, the bytes of the files its current generation indexed: what it
weighed when the tenant registered it, then moved by each publish). The admin tenant has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.identity import ADMIN_TENANT, Caller
from chalicelib.domain.models import Repository


@dataclass(frozen=True)
class Quota:
    """Caps on one tenant's registrations; 0 means no cap."""

    max_repositories: int = 0
    max_bytes: int = 0

    @property
    def unlimited(self) -> bool:
        return self.max_repositories <= 0 and self.max_bytes <= 0


@dataclass(frozen=True)
class Usage:
    """What a tenant has registered: repositories, and their indexed bytes as last counted."""

    repositories: int = 0
    bytes: int = 0


def quota_for(tenant: str, quota: Quota) -> Quota | None:
    """The caps `tenant` registers under; None (no caps) for the admin tenant."""
    if tenant == ADMIN_TENANT or quota.unlimited:
        return None
    return quota


def quota_refusal(usage: Usage, size: int, quota: Quota | None) -> str | None:
    """Why registering one more repository of `size` bytes would pass a cap, or None."""
    if quota is None:
        return None
    if quota.max_repositories > 0 and usage.repositories + 1 > quota.max_repositories:
        return (
            f"this tenant has registered {usage.repositories} repositories, "
            f"its cap (STRATA_TENANT_MAX_REPOSITORIES) is {quota.max_repositories}"
        )
    if quota.max_bytes > 0 and (
        usage.bytes >= quota.max_bytes or usage.bytes + size > quota.max_bytes
    ):
        return (
            f"this tenant's repositories hold {usage.bytes} indexed bytes and this one "
            f"{size}; its cap (STRATA_TENANT_MAX_BYTES) is {quota.max_bytes} bytes"
        )
    return None


def can_read(caller: Caller, repo: Repository) -> bool:
    """Whether `caller` may see the repository at all (status, search, chat, graph, events)."""
    return caller.is_admin or caller.tenant in repo.tenants


def visible(caller: Caller, repo: Repository | None) -> Repository | None:
    """`repo` when the caller may see it; None (an unknown repository) otherwise."""
    return repo if repo is not None and can_read(caller, repo) else None


def conversation_key(tenant: str, conversation_id: str) -> str:
    """Where a tenant's conversation is kept: each tenant has its own conversation ids, so
    another tenant's id names a conversation that does not exist (tenants hold no ':')."""
    return f"{tenant}:{conversation_id}"
