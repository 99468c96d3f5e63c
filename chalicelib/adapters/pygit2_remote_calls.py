"""Calls to a git remote through pygit2: credentials offered one at a time, and libgit2's
failures translated into Strata's errors (used by pygit2_git_engine).

AWS resources: none; IAM actions: none. Messages are written for users: never the remote, a
token or libgit2's own text, which go to the log (the remote without its password, tokens
masked). A remote that lacks objects it references fails for good (RepositoryUnreadable).

A refused or unreachable remote (the egress proxy's 403 or 502) and a TLS failure, including a
server certificate that is not trusted, all raise RemoteRefused with REFUSED_REMOTE. The
certificate verdict is never returned to libgit2 as a refusal: libgit2 1.9, talking through a
CONNECT proxy, frees the proxy stream before closing the TLS stream over it when the
certificate check fails, and the close then writes through the freed stream (it hangs, or
writes to whatever socket reuses the descriptor). So `certificate_check` notes the verdict
and lets the handshake finish; no credential is offered to that server, its transfer stops at
the first progress callback, and the call raises RemoteRefused as soon as libgit2 returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType

from chalicelib.domain.remote_policy import REFUSED_REMOTE
from chalicelib.errors import (
    AccessDenied,
    RemoteNotFound,
    RemoteRefused,
    RemoteUnreachable,
    RepositoryUnreadable,
    StrataError,
    TransientError,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

# (libgit2's verdict on the server certificate, host) -> trusted. Only tests replace it, to
# trust a loopback server's self-signed certificate; deployments keep libgit2's verdict.
CertificateTrust = Callable[[bool, str], bool]

_TOKEN_USER = "x-access-token"  # GitHub's convention; other hosts ignore the user name

# libgit2 reports failures as text; these fragments are stable across 1.x releases.
_AUTH_FAILURES = ("authentication required", "status code: 401", "status code: 403", "replays")
_NOT_FOUND = (
    "status code: 404",
    "status code: 410",
    "could not find repository",
    "repository not found",
    "failed to resolve path",
)
# Refused by the egress proxy (403) or a TLS failure: permanent.
_REFUSED = (
    "proxy returned unexpected status: 403",
    "ssl error",
    "tls error",
    "certificate",
    "cannot redirect",  # libgit2 will not follow https to http
)
# The proxy could not reach an allowed, public address (502), or the network failed: retried.
_UNREACHABLE = ("proxy returned unexpected status", "failed to connect", "timed out")
# The remote's object database lacks what it references: a retry finds it lacking again.
_MISSING_OBJECTS = ("object not found", "no match for id", "missing object", "cannot read header")

REMOTE_NOT_FOUND = "the remote repository was not found"
REMOTE_UNREADABLE = "the remote repository could not be read"
MISSING_OBJECTS = "the repository is missing objects (is it corrupt, shallow or a partial clone?)"


class _CredentialRejected(Exception):
    """Raised from the credentials callback so libgit2 stops asking for this token."""


class _UntrustedServer(Exception):
    """Raised from a callback to stop talking to a server whose certificate is not trusted."""


def libgit2_verdict(valid: bool, host: str) -> bool:
    return valid


class TokenCallbacks(pygit2.RemoteCallbacks):
    """Offers one token, once: libgit2 asks again when the server refuses it."""

    def __init__(self, token: str | None, trust: CertificateTrust = libgit2_verdict) -> None:
        super().__init__()
        self._token = token
        self._offered = False
        self._trust = trust
        self.untrusted = False

    def certificate_check(self, certificate: None, valid: bool, host: bytes | str) -> bool:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
        if not self._trust(bool(valid), name):
            self.untrusted = True
        return True  # never a refusal here: see the module docstring (libgit2 1.9 hangs)

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass:
        if self.untrusted:
            raise _UntrustedServer("no credential for an untrusted server")
        if not self._token or self._offered:
            raise _CredentialRejected("credential refused")
        if not allowed_types & CredentialType.USERPASS_PLAINTEXT:
            raise _CredentialRejected("the remote wants a credential other than a token")
        self._offered = True
        return pygit2.UserPass(_TOKEN_USER, self._token)

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        if self.untrusted:
            raise _UntrustedServer("stopped the transfer from an untrusted server")

    def sideband_progress(self, string: str) -> None:
        if self.untrusted:
            raise _UntrustedServer("stopped the transfer from an untrusted server")


def authenticated(
    remote: str,
    credentials: Sequence[str | None],
    action: Callable[[pygit2.RemoteCallbacks], T],
    trust: CertificateTrust = libgit2_verdict,
    *,
    callbacks: Callable[[str | None, CertificateTrust], TokenCallbacks] = TokenCallbacks,
) -> T:
    """Run `action` with each credential in turn, moving on only when one is refused.
    `callbacks` makes each attempt's callbacks (a push adds its own to TokenCallbacks').

    A 404 while another credential remains also moves on: GitHub hides a private
    repository from a token without access behind 404, not 403. A StrataError raised by a
    callback (a push that found its branch moved) ends the call as it is."""
    secrets = [token for token in credentials if token]
    refused: BaseException | None = None
    attempts = list(credentials or (None,))
    for n, token in enumerate(attempts):
        made = callbacks(token, trust)
        try:
            result = action(made)
        except _CredentialRejected as exc:
            _refuse_untrusted(made, remote, exc)
            refused = exc
            continue
        except (pygit2.GitError, OSError, _UntrustedServer) as exc:
            _refuse_untrusted(made, remote, exc)
            error = _translate(exc, remote, secrets)
            hidden = isinstance(error, RemoteNotFound) and n + 1 < len(attempts)
            if not (isinstance(error, AccessDenied) or hidden):
                raise error from exc
            refused = exc
            continue
        _refuse_untrusted(made, remote, None)
        return result
    log.warning("%s refused every credential offered", display(remote))
    raise AccessDenied("the remote refused every credential offered") from refused


def _refuse_untrusted(callbacks: TokenCallbacks, remote: str, cause: BaseException | None) -> None:
    """Whatever the call did, a server whose certificate is not trusted is refused."""
    if callbacks.untrusted:
        log.warning("the TLS certificate of %s is not trusted", display(remote))
        raise RemoteRefused(REFUSED_REMOTE) from cause


def _translate(exc: Exception, remote: str, secrets: Sequence[str]) -> StrataError:
    where = display(remote)
    message = str(exc).replace(remote, where)  # libgit2 may echo the URL and its password
    for secret in secrets:  # a token must never reach a log line
        message = message.replace(secret, "***")
    log.warning("git call to %s failed: %s", where, message)
    lowered = message.lower()
    if isinstance(exc, _UntrustedServer) or any(s in lowered for s in _REFUSED):
        return RemoteRefused(REFUSED_REMOTE)
    if isinstance(exc, pygit2.AuthError) or any(s in lowered for s in _AUTH_FAILURES):
        return AccessDenied("the remote refused the credential")
    if any(s in lowered for s in _NOT_FOUND):
        return RemoteNotFound(REMOTE_NOT_FOUND)
    if any(s in lowered for s in _MISSING_OBJECTS):
        return RepositoryUnreadable(MISSING_OBJECTS)
    if any(s in lowered for s in _UNREACHABLE):
        return RemoteUnreachable(REFUSED_REMOTE)
    return TransientError(REMOTE_UNREADABLE)


def display(remote: str) -> str:
    """The remote without any user:password part, safe for messages."""
    parts = urlsplit(remote)
    if parts.username is None and parts.password is None:
        return remote
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
