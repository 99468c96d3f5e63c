"""Routes: API keys, for admin keys only. The secret is in the 201 answer that creates a key
and nowhere else."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import Incoming, Text, endpoint, json_response
from chalicelib.domain.identity import Scope

bp = Blueprint(__name__)

_NO_STORE = {"Cache-Control": "no-store"}


@endpoint(bp, "/keys", "POST", body="json", scope=Scope.ADMIN)
def create_key(req: Incoming) -> Response:
    created = bootstrap.key_admin().create(req.body, by=req.actor)
    return json_response(created, 201, headers=_NO_STORE)


@endpoint(bp, "/keys", query={"tenant": Text(63)}, scope=Scope.ADMIN)
def list_keys(req: Incoming) -> Response:
    return json_response(bootstrap.key_admin().list(req.query["tenant"]))


@endpoint(bp, "/keys/{key_id}", "DELETE", scope=Scope.ADMIN)
def revoke_key(req: Incoming) -> Response:
    return json_response(bootstrap.key_admin().revoke(req.path["key_id"], by=req.actor))
