"""Use case: a client (API), a webhook or the sweep asks for a repository's index."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chalicelib.domain.events import EventType
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
from chalicelib.domain.planning import credential_order
from chalicelib.domain.validation import reject_unknown_fields
from chalicelib.errors import InvalidRequest
from chalicelib.ports import RepoStore
from chalicelib.services.context import IndexConfig, IndexPorts
from chalicelib.services.events import record

_FIELDS = {"owner", "repo", "repositoryId", "url", "branch", "accessToken", "force"}
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True)
class IndexOutcome:
    repository: Repository
    status: Status
    message: str


def parse_index_request(
    body: Mapping[str, object],
    allow_local: bool,
    registered: Callable[[str], RepositoryRef | None] = lambda _: None,
) -> tuple[RepositoryRef, str | None, str | None, bool]:
    """Validate the request body: (ref, branch, token, force)."""
    reject_unknown_fields(body, _FIELDS)
    given = [k for k in ("repositoryId", "url") if body.get(k) is not None]
    if body.get("owner") is not None or body.get("repo") is not None:
        given.append("owner/repo")
    if len(given) != 1:
        raise InvalidRequest("give exactly one of {owner, repo}, repositoryId or url")
    if given[0] == "url":
        ref = ref_from_url(body["url"], allow_local=allow_local)
    elif given[0] == "repositoryId":
        # A registered repository keeps the remote it was registered with (a local path,
        # a non-GitHub host); only an unknown id is turned into a remote.
        rid = validate_repository_id(body["repositoryId"])
        ref = registered(rid) or ref_from_id(rid)
    else:
        ref = github_ref(body.get("owner"), body.get("repo"))
    token = body.get("accessToken")
    if token is not None and (
        not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH
    ):
        raise InvalidRequest("accessToken must be a non-empty string")
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise InvalidRequest("force must be a boolean")
    return ref, validate_branch(body.get("branch")), token, force


class _KnownRepositories:
    """Repository items read at most once per request."""

    def __init__(self, repos: RepoStore) -> None:
        self._repos = repos
        self._items: dict[str, Repository | None] = {}

    def get(self, repository_id: str) -> Repository | None:
        if repository_id not in self._items:
            self._items[repository_id] = self._repos.get(repository_id)
        return self._items[repository_id]

    def ref(self, repository_id: str) -> RepositoryRef | None:
        """A registered repository keeps the remote it was registered with."""
        repo = self.get(repository_id)
        return RepositoryRef(repo.id, repo.remote, repo.is_local) if repo and repo.remote else None


class IndexRequests:
    def __init__(self, *, ports: IndexPorts, config: IndexConfig) -> None:
        self._p = ports
        self._c = config

    def request(self, body: Mapping[str, object]) -> IndexOutcome:
        known = _KnownRepositories(self._p.repos)
        ref, branch, token, force = parse_index_request(body, self._c.allow_local_paths, known.ref)
        existing = known.get(ref.id)
        sealed = self._p.vault.seal(token) if token else None
        if token is None and existing and existing.sealed_token:
            token = self._p.vault.open(existing.sealed_token)
        wanted = branch or (existing.branch if existing else None)
        credentials = credential_order(token, self._c.server_git_token)
        branch_name, sha = self._p.git.resolve_head(ref.remote, wanted, credentials)
        if existing and not force:
            done = self._already_done(existing, sha)
            if done:
                return done
        base = existing or Repository(id=ref.id, remote=ref.remote, is_local=ref.is_local)
        repo = self._p.repos.record_request(
            base,
            sha=sha,
            branch=branch_name,
            force=force,
            sealed_token=sealed,
            now=self._p.clock.now(),
        )
        self._p.queue.send(IndexRepository(repository_id=ref.id, force=force))
        self._requested(ref.id, sha, "api", force)
        return IndexOutcome(repo, Status.INDEXING, f"indexing {branch_name} at {sha[:12]}")

    def request_at(
        self, repo: Repository, sha: str, *, source: str, branch: str | None = None
    ) -> IndexOutcome:
        """Index a registered repository at a SHA someone else read (a push's `after`, the
        sweep's ls-remote): no remote call. The same rules as `request` apply, so a SHA
        already indexed or already being built does nothing; otherwise this SHA becomes the
        newest request (the last caller wins) and one IndexRepository is enqueued."""
        done = self._already_done(repo, sha)
        if done:
            return done
        updated = self._p.repos.record_request(
            repo,
            sha=sha,
            branch=branch or repo.branch or "main",
            force=False,
            sealed_token=None,
            now=self._p.clock.now(),
        )
        self._p.queue.send(IndexRepository(repository_id=repo.id))
        self._requested(repo.id, sha, source, False)
        return IndexOutcome(updated, Status.INDEXING, f"indexing at {sha[:12]}")

    def _requested(self, repository_id: str, sha: str, source: str, force: bool) -> None:
        data = {"sha": sha, "source": source, "force": force}
        record(self._p, repository_id, EventType.INDEX_REQUESTED, data)

    def _already_done(self, existing: Repository, sha: str) -> IndexOutcome | None:
        current = existing.indexed_sha == sha and existing.generation is not None
        if current and (existing.status is not Status.INDEXING or existing.requested_sha == sha):
            return IndexOutcome(existing, Status.READY, f"already indexed at {sha[:12]}")
        if existing.status is Status.INDEXING and existing.requested_sha == sha:
            lease = self._p.locks.get(existing.id)
            if lease and lease.owner and lease.lease_until >= self._p.clock.now():
                return IndexOutcome(existing, Status.INDEXING, "indexing is already under way")
        return None
