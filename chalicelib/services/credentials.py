"""The git credentials a worker offers for a repository (domain/credentials.py decides).

Workers act on the repository, not for a tenant: every tenant's stored token may fetch it,
and the server token only where an admin's registration relied on it and the remote is in
`STRATA_GIT_TOKEN_SCOPE`. Each stored token costs one vault (KMS) decrypt per call.
"""

from __future__ import annotations

from chalicelib.domain.credentials import worker_credentials
from chalicelib.domain.models import Repository
from chalicelib.services.context import IndexConfig, IndexPorts


def repository_credentials(
    ports: IndexPorts, config: IndexConfig, repo: Repository
) -> list[str | None]:
    tokens = [ports.vault.open(sealed) for _, sealed in sorted(repo.sealed_tokens.items())]
    return worker_credentials(
        repo.remote,
        tokens=tokens,
        server_allowed=repo.uses_server_token,
        server=config.server_token,
    )
