"""Which git remotes Strata may fetch, which addresses it may connect to, and where the
server's git token may be sent. Pure: the adapters resolve names and connect.

- A remote's host must be on the allow-list (`STRATA_GIT_HOSTS`, default `github.com`).
- Every address a host resolves to must be public: loopback, private, link-local (the cloud
  metadata endpoint 169.254.169.254), multicast, reserved, unspecified, shared (100.64/10),
  documentation and benchmarking ranges are refused, in IPv4 and IPv6, including IPv4 written
  as a decimal, octal or hexadecimal number and IPv4 mapped or embedded in IPv6. The check
  runs on the address the connection really uses (see adapters/git_egress_proxy.py), so a
  name that resolves differently a second time (DNS rebinding) cannot slip through.
- The server token (`STRATA_GIT_TOKEN`) goes only to remotes under a configured scope
  (`STRATA_GIT_TOKEN_SCOPE`, e.g. `github.com/my-org`), and only for an admin's request.
- A local path (where the deployment allows them) must lie under a configured root
  (`STRATA_LOCAL_ROOTS`), once every symlink is resolved: `local_repository` reads the file
  system (realpath), the one thing here that is not pure.

Every refusal, like every remote that cannot be reached, reads REFUSED_REMOTE: a caller cannot
tell a refused address from a closed port, a TLS failure or a missing directory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REFUSED_REMOTE = "the remote repository is not allowed or cannot be reached"
DEFAULT_GIT_HOSTS = ("github.com",)

_SHARED = ipaddress.ip_network("100.64.0.0/10")


def address_is_public(address: str) -> bool:
    """True for an address that a fetch may connect to."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return address_is_public(str(embedded))
        if ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64: the last 32 bits are IPv4
            return address_is_public(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return False
    return ip.is_global and not ip.is_multicast


def numeric_host(host: str) -> str | None:
    """The dotted address a numeric host means (`2130706433`, `0x7f.1`, `0177.0.0.1`, `[::1]`),
    or None for a name. inet_aton reads the same forms the C library does when connecting."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    with contextlib.suppress(ValueError):  # not an IP literal: try the C library's forms
        return str(ipaddress.ip_address(bare))
    if bare and all(c in "0123456789abcdefxABCDEFX." for c in bare):
        try:
            return socket.inet_ntoa(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def split_host(netloc: str) -> tuple[str, int | None]:
    """(lowercased host, port or None) of a URL's netloc (no credentials: refused earlier)."""
    parts = urlsplit(f"//{netloc}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    return (parts.hostname or "").lower().rstrip("."), port


def host_allowed(host: str, port: int | None, allowed: Iterable[str]) -> bool:
    """`host` (with its port, if any) matches an allow-list entry: `github.com` (any port 443),
    `git.example.com:8443`, or `*.example.com` (subdomains only)."""
    if numeric_host(host) is not None:
        return False  # a remote is named by its host name, never by an address
    shown = host if port in (None, 443) else f"{host}:{port}"
    for raw in allowed:
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry.startswith("*."):
            if shown.endswith(entry[1:]) and shown != entry[2:]:
                return True
        elif shown == entry:
            return True
    return False


def token_in_scope(remote: str, scopes: Sequence[str]) -> bool:
    """The server token may be sent to `remote`: https, and host/path under a scope entry
    such as `github.com/my-org` (that organisation) or `git.example.com` (the whole host)."""
    parts = urlsplit(remote)
    if parts.scheme != "https" or parts.username or parts.password:
        return False
    host, port = split_host(parts.netloc)
    if port not in (None, 443):
        host = f"{host}:{port}"
    path = [p for p in parts.path.split("/") if p]
    if path:
        path[-1] = path[-1].removesuffix(".git")
    for scope in scopes:
        s_host, _, s_path = scope.strip().lower().strip("/").partition("/")
        if not s_host or s_host != host:
            continue
        wanted = [p for p in s_path.split("/") if p]
        if [p.lower() for p in path[: len(wanted)]] == wanted and len(path) > len(wanted):
            return True
    return False


def under_roots(path: str, roots: Iterable[str]) -> bool:
    """`path` (already resolved) is one of `roots` or inside one (each root resolved too)."""
    for root in roots:
        if not root or not os.path.isabs(root):
            continue
        base = os.path.realpath(root)
        if os.path.commonpath([path, base]) == base:
            return True
    return False


def local_repository(path: str, roots: Iterable[str]) -> str | None:
    """The directory of the git repository at `path`, symlinks resolved, when it lies under a
    root and looks like a repository (a worktree with `.git`, or a bare one); else None.
    `repo/.git` names `repo`, so both give one repository."""
    if "\x00" in path or not os.path.isabs(path):
        return None
    real = os.path.realpath(path)
    if os.path.basename(real) == ".git":
        real = os.path.dirname(real)
    if not under_roots(real, roots):
        return None
    bare = os.path.isfile(os.path.join(real, "HEAD")) and os.path.isdir(
        os.path.join(real, "objects")
    )
    return real if bare or os.path.exists(os.path.join(real, ".git")) else None
