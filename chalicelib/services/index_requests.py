"""Use case: a client (API), a webhook or the sweep asks for a repository's index."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib import observability
from chalicelib.domain.credentials import request_credentials
from chalicelib.domain.event_replay import requested_fields
from chalicelib.domain.events import EventType
from chalicelib.domain.identity import Caller
from chalicelib.domain.ids import (
    RepositoryRef,
    github_ref,
    ref_from_id,
    ref_from_url,
    validate_branch,
    validate_repository_id,
)
from chalicelib.domain.messages import IndexRepository
from chalicelib.domain.models import Repository, Status
from chalicelib.domain.remote_policy import DEFAULT_GIT_HOSTS
from chalicelib.domain.tenancy import quota_for, visible
from chalicelib.errors import (
    AccessDenied,
    BranchNotFound,
    CommitNotOnBranch,
    InvalidRequest,
    RemoteNotFound,
)
from chalicelib.observability import Metric
from chalicelib.ports import RepoStore
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.events import record
from chalicelib.services.job_endings import lease_is_stale

log = logging.getLogger(__name__)
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True)
class IndexTarget:
    """Which repository to index, named in exactly one way: `owner` and `repo` (GitHub),
    `repository_id`, or `url`; `branch` defaults to the registered one, then the remote's
    HEAD; `access_token` is the caller's own credential for a private remote."""

    owner: str | None = None
    repo: str | None = None
    repository_id: str | None = None
    url: str | None = None
    branch: str | None = None
    access_token: str | None = field(default=None, repr=False)
    force: bool = False


@dataclass(frozen=True)
class IndexOutcome:
    repository: Repository
    status: Status
    message: str


def parse_index_request(
    target: IndexTarget,
    allow_local: bool,
    registered: Callable[[str], RepositoryRef | None] = lambda _: None,
    *,
    hosts: Sequence[str] = DEFAULT_GIT_HOSTS,
    local_roots: Sequence[str] = (),
) -> tuple[RepositoryRef, str | None, str | None, bool]:
    """(ref, branch, token, force) of a target. A remote's host must be on `hosts`, a local
    path under `local_roots` (RemoteRefused otherwise)."""
    given = [k for k in ("repository_id", "url") if getattr(target, k) is not None]
    if target.owner is not None or target.repo is not None:
        given.append("owner/repo")
    if len(given) != 1:
        raise InvalidRequest("give exactly one of {owner, repo}, repositoryId or url")
    if target.url is not None:
        ref = ref_from_url(
            target.url, allow_local=allow_local, hosts=hosts, local_roots=local_roots
        )
    elif target.repository_id is not None:
        # A registered repository keeps the remote it was registered with (a local path,
        # a non-GitHub host); only an unknown id is turned into a remote.
        rid = validate_repository_id(target.repository_id)
        ref = registered(rid) or ref_from_id(rid, hosts=hosts)
    else:
        ref = github_ref(target.owner, target.repo)
    token = target.access_token
    if token is not None and not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise InvalidRequest("accessToken must be a non-empty string")
    return ref, validate_branch(target.branch), token, target.force


def repository_as_seen(repos: RepoStore, caller: Caller, repository_id: str) -> Repository:
    """The item as `caller` may see it: one its tenant did not register reads as an unknown
    repository does (idle, no remote)."""
    return visible(caller, repos.get(repository_id)) or Repository(id=repository_id, remote="")


class _KnownRepositories:
    """Repository items read at most once per request."""

    def __init__(self, repos: RepoStore, caller: Caller) -> None:
        self._repos = repos
        self._caller = caller
        self._items: dict[str, Repository | None] = {}

    def get(self, repository_id: str) -> Repository | None:
        if repository_id not in self._items:
            self._items[repository_id] = self._repos.get(repository_id)
        return self._items[repository_id]

    def ref(self, repository_id: str) -> RepositoryRef | None:
        """A registered repository keeps the remote it was registered with, for a caller
        who may see it; to anyone else its id means what it would unregistered."""
        repo = visible(self._caller, self.get(repository_id))
        return RepositoryRef(repo.id, repo.remote, repo.is_local) if repo and repo.remote else None


class IndexRequests:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    @property
    def ports(self) -> IndexPorts:
        return self._p

    @property
    def config(self) -> IndexConfig:
        return self._c

    def request(
        self,
        target: IndexTarget,
        caller: Caller,
        *,
        registered: Callable[[str], None] | None = None,
    ) -> IndexOutcome:
        """The caller's tenant is registered (and counted against its quota) once the remote
        accepted the caller's own credentials, or, for an admin, the server token.
        `registered(repository_id)` runs then, before any work is queued (a callback URL is
        stored there, so it cannot miss the end of this run)."""
        known = _KnownRepositories(self._p.repos, caller)
        ref, branch, token, force = parse_index_request(
            target,
            self._c.allow_local_paths,
            known.ref,
            hosts=self._c.git_hosts,
            local_roots=self._c.local_roots,
        )
        observability.append_keys(repositoryId=ref.id)
        existing = known.get(ref.id)
        wanted = branch or (existing.branch if existing else None)
        branch_name, sha, via_server = self._resolve(ref, wanted, token, existing, caller)
        base = existing or Repository(id=ref.id, remote=ref.remote, is_local=ref.is_local)
        self._p.repos.register(
            base,
            caller.tenant,
            quota=quota_for(caller.tenant, self._c.tenant_quota),
            sealed_token=self._p.vault.seal(token) if token and not via_server else None,
            server_token=via_server,
        )
        if registered is not None:
            registered(ref.id)
        if existing and not force:
            done = self._already_done(existing, sha)
            if done:
                return done
        repo = self._p.repos.record_request(
            base, sha=sha, branch=branch_name, force=force, now=self._p.clock.now()
        )
        self._p.queue.send(IndexRepository(repository_id=ref.id, force=force))
        self._requested(repo, sha, "api", force)
        return IndexOutcome(repo, Status.INDEXING, f"indexing {branch_name} at {sha[:12]}")

    def _resolve(
        self,
        ref: RepositoryRef,
        branch: str | None,
        token: str | None,
        existing: Repository | None,
        caller: Caller,
    ) -> tuple[str, str, bool]:
        """(branch, head SHA, whether only the server token was accepted): the caller's own
        credentials first (domain/credentials.py), then the server token where allowed."""
        stored = existing.sealed_tokens.get(caller.tenant) if existing else None
        offer = request_credentials(
            ref.remote,
            given=token,
            stored=self._p.vault.open(stored) if stored else None,
            admin=caller.is_admin,
            server=self._c.server_token,
        )
        try:
            return (*self._p.git.resolve_head(ref.remote, branch, offer.own), False)
        except (AccessDenied, RemoteNotFound) as exc:
            # A missing branch or commit means the remote was read: no other credential.
            if offer.server is None or isinstance(exc, BranchNotFound | CommitNotOnBranch):
                raise
        return (*self._p.git.resolve_head(ref.remote, branch, [offer.server]), True)

    def request_at(
        self, repo: Repository, sha: str, *, source: str, branch: str | None = None
    ) -> IndexOutcome:
        """Index a registered repository at a SHA someone else read (a push's `after`, the
        sweep's ls-remote): no remote call. The same rules as `request` apply, so a SHA
        already indexed or already being built does nothing; otherwise this SHA becomes the
        newest request (the last caller wins) and one IndexRepository is enqueued."""
        observability.append_keys(repositoryId=repo.id)
        done = self._already_done(repo, sha)
        if done:
            return done
        updated = self._p.repos.record_request(
            repo,
            sha=sha,
            branch=branch or repo.branch or "main",
            force=False,
            now=self._p.clock.now(),
        )
        self._p.queue.send(IndexRepository(repository_id=repo.id))
        self._requested(updated, sha, source, False)
        return IndexOutcome(updated, Status.INDEXING, f"indexing at {sha[:12]}")

    def _requested(self, repo: Repository, sha: str, source: str, force: bool) -> None:
        # branch and requestedAt: what the item now says, so a replay rebuilds it (ADR 23)
        data = {"sha": sha, "source": source, "force": force, **requested_fields(repo)}
        observability.count(Metric.INDEX_REQUESTS)
        log.info("index requested at %s (%s)", sha[:12], source)
        record(self._p, repo.id, EventType.INDEX_REQUESTED, data)

    def _already_done(self, existing: Repository, sha: str) -> IndexOutcome | None:
        """READY when the item shows `sha` indexed and ready (an item in `error`, or one whose
        head says otherwise, is requested again: the planner puts it back to ready without
        a build); INDEXING when a live job is building `sha`; None: record a request."""
        current = existing.indexed_sha == sha and existing.generation is not None
        building = existing.status is Status.INDEXING and existing.requested_sha == sha
        settled = existing.status is Status.READY and existing.head_sha in (None, sha)
        if current and (settled or building):
            return IndexOutcome(existing, Status.READY, f"already indexed at {sha[:12]}")
        if building and self._under_way(existing.id):
            return IndexOutcome(existing, Status.INDEXING, "indexing is already under way")
        return None

    def _under_way(self, repository_id: str) -> bool:
        """A live lease of a job that has not ended (a stale one does not count)."""
        lease = self._p.locks.get(repository_id)
        if lease is None or not lease.owner or lease.lease_until < self._p.clock.now():
            return False
        return not lease_is_stale(self._p, lease)
