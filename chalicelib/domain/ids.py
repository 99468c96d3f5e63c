"""Repository identifiers and the remotes they name.

An id is `<kind>:<segment>(:<segment>)*`, safe to use in a URL path and as part of an S3 key:
- `github:owner:repo`            -> https://github.com/owner/repo.git
- `git:host:seg:...:seg`         -> https://host/seg/.../seg  (any https remote)
- `local:<name>-<hash8>`         -> a path on the server's disk (only when allowed)
Segments start with a letter or digit, so `.` and `..` can never appear.

A remote is checked when it is accepted (remote_policy): its host must be on the allow-list
(`hosts`), named, never an address; a local path must lie under a configured root once its
symlinks are resolved. Any such refusal is RemoteRefused with one generic message (no host,
no path). The remote kept is rebuilt from what was checked, so nothing parses the client's
text differently later. The git adapter checks again when it connects.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from chalicelib.domain.remote_policy import (
    DEFAULT_GIT_HOSTS,
    REFUSED_REMOTE,
    host_allowed,
    local_repository,
    split_host,
)
from chalicelib.errors import InvalidRequest, RemoteRefused

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_SEGMENT_RE = re.compile(rf"^{_SEGMENT}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?$")
_ID_RE = re.compile(rf"^(github|git|local):{_SEGMENT}(:{_SEGMENT}){{0,15}}$")
MAX_ID_LENGTH = 300


@dataclass(frozen=True)
class RepositoryRef:
    """What a client asked to index: a validated id and the remote to fetch."""

    id: str
    remote: str
    is_local: bool = False


def validate_repository_id(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        raise InvalidRequest("repositoryId must be a non-empty string")
    if len(raw) > MAX_ID_LENGTH or not _ID_RE.match(raw):
        raise InvalidRequest(
            "repositoryId must look like github:owner:repo (letters, digits, '.', '_', '-')"
        )
    if raw.startswith("github:") and raw.count(":") != 2:
        raise InvalidRequest("a github repositoryId has exactly two parts: github:owner:repo")
    return raw


def storage_key(repository_id: str) -> str:
    """The S3 key prefix segment for a repository (ids are validated, so this is safe)."""
    return validate_repository_id(repository_id).replace(":", "/")


def _segment(value: object, what: str) -> str:
    if not isinstance(value, str) or not _SEGMENT_RE.match(value):
        raise InvalidRequest(f"{what} must be letters, digits, '.', '_' or '-'")
    return value


def github_ref(owner: object, repo: object) -> RepositoryRef:
    o, r = _segment(owner, "owner"), _segment(repo, "repo")
    r = r.removesuffix(".git")
    return RepositoryRef(id=f"github:{o}:{r}", remote=f"https://github.com/{o}/{r}.git")


def ref_from_id(
    repository_id: object, *, hosts: Sequence[str] = DEFAULT_GIT_HOSTS
) -> RepositoryRef:
    """The ref for an id alone; only github: and git: ids name their remote."""
    rid = validate_repository_id(repository_id)
    kind, _, rest = rid.partition(":")
    parts = rest.split(":")
    if kind == "github":
        _allowed_host("github.com", hosts)
        return github_ref(parts[0], parts[1])
    if kind == "git":
        if len(parts) < 2:
            raise InvalidRequest("a git repositoryId needs a host and a path: git:host:path")
        name, _, port = parts[0].rpartition("_")  # ref_from_url writes host:port as host_port
        shown = _allowed_host(f"{name}:{port}" if name and port.isdigit() else parts[0], hosts)
        return RepositoryRef(id=rid, remote=f"https://{shown}/{'/'.join(parts[1:])}")
    raise InvalidRequest("a local repository must be registered by its path (url)")


def ref_from_url(
    url: object,
    *,
    allow_local: bool,
    hosts: Sequence[str] = DEFAULT_GIT_HOSTS,
    local_roots: Sequence[str] = (),
) -> RepositoryRef:
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise InvalidRequest("url must be a non-empty string of at most 2048 characters")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidRequest("url must not contain spaces or control characters")
    if url.startswith(("/", "file://")):
        return _local_ref(url, allow_local, local_roots)
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise InvalidRequest("url must be an https git remote")
    if parts.username or parts.password or "@" in parts.netloc:
        raise InvalidRequest("put credentials in accessToken, never in the url")
    if parts.query or parts.fragment or "#" in url or "?" in url:
        raise InvalidRequest("url must not carry a query or a fragment")
    shown = _allowed_host(parts.netloc, hosts)
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise InvalidRequest("url must name a repository path")
    path[-1] = path[-1].removesuffix(".git")
    for p in path:
        _segment(p, "each url path segment")
    if shown == "github.com" and len(path) == 2:
        return github_ref(path[0], path[1])
    host_seg = shown.replace(":", "_")
    rid = validate_repository_id(f"git:{host_seg}:{':'.join(path)}")
    return RepositoryRef(id=rid, remote=urlunsplit(("https", shown, parts.path, "", "")))


def _allowed_host(netloc: str, hosts: Sequence[str]) -> str:
    """`host` or `host:port` (lowercased, without a trailing dot or port 443) when the
    allow-list names it; RemoteRefused for anything else, an address in any notation too."""
    if not _HOST_RE.match(netloc):
        raise RemoteRefused(REFUSED_REMOTE)
    host, port = split_host(netloc)
    if not host or not host_allowed(host, port, hosts):
        raise RemoteRefused(REFUSED_REMOTE)
    return host if port in (None, 443) else f"{host}:{port}"


def _local_ref(url: str, allow_local: bool, roots: Sequence[str]) -> RepositoryRef:
    if not allow_local:
        raise InvalidRequest("local paths are not allowed by this deployment")
    path = url.removeprefix("file://")
    if "\x00" in path or not os.path.isabs(path):
        raise InvalidRequest("a local path must be absolute")
    real = local_repository(path, roots)
    if real is None:  # outside the roots, missing, or not a repository: one answer for all
        raise RemoteRefused(REFUSED_REMOTE)
    name = re.sub(r"[^A-Za-z0-9._-]", "-", os.path.basename(real.rstrip("/")) or "root")
    name = name.lstrip("._-")[:60] or "repo"
    digest = hashlib.sha1(real.encode(), usedforsecurity=False).hexdigest()[:8]
    return RepositoryRef(id=f"local:{name}-{digest}", remote=real, is_local=True)


_BRANCH_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


def validate_branch(branch: object) -> str | None:
    if branch is None:
        return None
    if not isinstance(branch, str) or not _BRANCH_RE.match(branch):
        raise InvalidRequest("branch must be a git branch name")
    if ".." in branch or branch.startswith(("/", "-")) or branch.endswith((".lock", "/")):
        raise InvalidRequest("branch must be a git branch name")
    return branch
