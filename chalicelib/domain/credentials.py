"""Which git credentials go to a remote, and when the server's token may be one of them. Pure.

A request proves the caller's own access first: the token it sends (`accessToken`), else the
token its tenant stored before (then anonymously, should that token have lapsed on a public
repository), else anonymously. Only when the remote refuses those, and only for an
admin-scoped caller, is the server token (`STRATA_GIT_TOKEN`) offered, and only to a remote
under `STRATA_GIT_TOKEN_SCOPE` (remote_policy.token_in_scope; empty scope: nowhere).

Workers (index, sweep, push checks) act on the repository, for every tenant: they offer every
token a tenant stored, then anonymous, then the server token, the latter only when an admin's
registration relied on it (recorded on the item) and the remote is still in scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.domain.remote_policy import token_in_scope


@dataclass(frozen=True)
class ServerToken:
    """The server's git token and the remotes it may be sent to."""

    token: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] = ()

    def for_remote(self, remote: str) -> str | None:
        """The token, when `remote` is in scope; else None."""
        if self.token and token_in_scope(remote, self.scope):
            return self.token
        return None


@dataclass(frozen=True)
class RequestCredentials:
    """`own` are the caller's credentials (None: anonymous), offered in order; `server` is
    offered alone, and only after the remote refused every one of `own`."""

    own: tuple[str | None, ...]
    server: str | None = field(default=None, repr=False)


def request_credentials(
    remote: str,
    *,
    given: str | None,
    stored: str | None,
    admin: bool,
    server: ServerToken,
) -> RequestCredentials:
    """What an index request may offer `remote`: `given` is the request's token, `stored`
    the caller's tenant's own stored token."""
    if given:
        own: tuple[str | None, ...] = (given,)
    elif stored:
        own = (stored, None)
    else:
        own = (None,)
    fallback = server.for_remote(remote) if admin else None
    return RequestCredentials(own, None if fallback in own else fallback)


def worker_credentials(
    remote: str, *, tokens: Iterable[str], server_allowed: bool, server: ServerToken
) -> list[str | None]:
    """What a worker may offer `remote`: the tenants' stored tokens, anonymous, and the
    server token when `server_allowed` (an admin registration relied on it) and in scope."""
    order: list[str | None] = [*dict.fromkeys(t for t in tokens if t), None]
    fallback = server.for_remote(remote) if server_allowed else None
    if fallback is not None and fallback not in order:
        order.append(fallback)
    return order
