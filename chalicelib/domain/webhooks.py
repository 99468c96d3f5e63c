"""GitHub webhook deliveries: headers and payloads in, a decision out (pure).

Payloads are accepted as GitHub sends them: JSON, or form-encoded with the JSON in a
`payload` field (the hook's "application/x-www-form-urlencoded" content type). A push's
repository id is `github:<owner>:<repo>` from `repository.full_name` (falling back to
`repository.owner.login` or `.name`, and `repository.name`). Only what a decision needs is
read; everything else in the payload (`installation`, `commits`, `sender`, ...) is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs

from chalicelib.domain.ids import github_ref
from chalicelib.domain.models import Repository
from chalicelib.domain.validation import json_object
from chalicelib.errors import InvalidRequest

ZERO_SHA = "0" * 40
_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
_EVENT = re.compile(r"^[a-z_]{1,64}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9-]{1,100}$")
FORM = "application/x-www-form-urlencoded"
MAX_REF = 300


@dataclass(frozen=True)
class DeliveryHeaders:
    event: str  # X-GitHub-Event
    delivery_id: str  # X-GitHub-Delivery


@dataclass(frozen=True)
class Push:
    repository_id: str
    ref: str
    after: str
    before: str | None = None
    deleted: bool = False
    created: bool = False
    forced: bool = False  # a force push: `after` need not descend from `before`

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith("refs/tags/")


class PushAction(StrEnum):
    INDEX = "index"
    DELETE_BRANCH = "delete_branch"
    IGNORE = "ignore"


@dataclass(frozen=True)
class PushDecision:
    action: PushAction
    reason: str


def parse_headers(event: str | None, delivery_id: str | None) -> DeliveryHeaders:
    if event is None or not _EVENT.match(event):
        raise InvalidRequest("X-GitHub-Event must name a GitHub event")
    if delivery_id is None or not _DELIVERY.match(delivery_id):
        raise InvalidRequest("X-GitHub-Delivery must be a delivery id (GUID)")
    return DeliveryHeaders(event=event, delivery_id=delivery_id)


def parse_payload(body: bytes, content_type: str | None) -> dict[str, object]:
    """The payload object of a delivery. Raises InvalidRequest."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the webhook body is not UTF-8") from exc
    if (content_type or "").split(";")[0].strip().lower() == FORM:
        values = parse_qs(text).get("payload", [])
        if len(values) != 1:
            raise InvalidRequest("a form-encoded delivery needs exactly one `payload` field")
        text = values[0]
    return json_object(text, "the webhook payload")


def repository_id(payload: Mapping[str, object]) -> str:
    """`github:<owner>:<repo>` for the payload's repository. Raises InvalidRequest."""
    repo = payload.get("repository")
    if not isinstance(repo, dict):
        raise InvalidRequest("the payload has no repository object")
    full_name = repo.get("full_name")
    if full_name is not None:
        if not isinstance(full_name, str) or full_name.count("/") != 1:
            raise InvalidRequest("repository.full_name must be owner/name")
        return github_ref(*full_name.split("/")).id
    owner_obj = repo.get("owner")
    if not isinstance(owner_obj, dict):
        raise InvalidRequest("the payload's repository has no full_name or owner")
    login = owner_obj.get("login") or owner_obj.get("name")
    return github_ref(login, repo.get("name")).id


def repository_hint(body: bytes, content_type: str | None) -> str | None:
    """The repository a delivery claims to be about, or None; read before the signature is
    checked, only to choose which secret checks it."""
    try:
        return repository_id(parse_payload(body, content_type))
    except InvalidRequest:
        return None


def _flag(payload: Mapping[str, object], name: str) -> bool:
    value = payload.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be a boolean")
    return value


def _sha(payload: Mapping[str, object], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not _SHA.match(value):
        raise InvalidRequest(f"{name} must be a 40-character hex commit id")
    return value.lower()


def parse_push(payload: Mapping[str, object]) -> Push:
    """A push delivery's facts. Raises InvalidRequest for a malformed payload."""
    rid = repository_id(payload)
    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref or len(ref) > MAX_REF:
        raise InvalidRequest("ref must be a non-empty string")
    after = _sha(payload, "after")
    return Push(
        repository_id=rid,
        ref=ref,
        after=after,
        before=None if payload.get("before") is None else _sha(payload, "before"),
        deleted=_flag(payload, "deleted") or after == ZERO_SHA,
        created=_flag(payload, "created"),
        forced=_flag(payload, "forced"),
    )


def decide_push(push: Push, repo: Repository | None) -> PushDecision:
    """Index a push to the tracked branch; note its deletion; ignore everything else."""
    if push.is_tag:
        return PushDecision(PushAction.IGNORE, "tag pushes are not indexed")
    if push.branch is None:
        return PushDecision(PushAction.IGNORE, f"{push.ref} is not a branch")
    if repo is None:
        return PushDecision(PushAction.IGNORE, "this repository is not registered")
    if push.branch != repo.branch:
        return PushDecision(
            PushAction.IGNORE, f"branch {push.branch} is not tracked (tracking {repo.branch})"
        )
    if push.deleted:
        return PushDecision(PushAction.DELETE_BRANCH, f"branch {push.branch} was deleted")
    return PushDecision(PushAction.INDEX, f"push to {push.branch}")
