"""Routes: API keys, for admin keys only. The secret is in the 201 answer that creates a key
and nowhere else."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import CreatedKey, CreateKeyRequest, KeyList, KeyView
from chalicelib.api.wire import Text
from chalicelib.domain.identity import Scope

bp = Blueprint(__name__)

_NO_STORE = {"Cache-Control": "no-store"}


@endpoint(
    bp, "/keys", "POST", body=CreateKeyRequest, scope=Scope.ADMIN, responses={201: CreatedKey}
)
def create_key(req: Incoming) -> Response:
    """Create an API key; its secret is in this answer only."""
    m = req.model(CreateKeyRequest)
    created = bootstrap.key_admin().create(m.tenant, m.scope, m.name, by=req.actor)
    return reply(CreatedKey, views.created_key(created), 201, headers=_NO_STORE)


@endpoint(bp, "/keys", query={"tenant": Text(63)}, scope=Scope.ADMIN, responses={200: KeyList})
def list_keys(req: Incoming) -> Response:
    """API keys (of one tenant), without their secrets."""
    found = bootstrap.key_admin().list(req.query["tenant"])
    return reply(KeyList, {"keys": [views.key(k) for k in found]})


@endpoint(bp, "/keys/{key_id}", "DELETE", scope=Scope.ADMIN, responses={200: KeyView})
def revoke_key(req: Incoming) -> Response:
    """Revoke an API key (idempotent); the last active admin key cannot be revoked."""
    revoked = bootstrap.key_admin().revoke(req.path["key_id"], by=req.actor)
    return reply(KeyView, views.key(revoked))
