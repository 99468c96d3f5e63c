"""Commits written through the API (`POST /repositories/{id}/commits`): what a request asks,
the rules it must meet before anything touches git, and the fingerprint that tells a retry
from another request under the same Idempotency-Key. Pure.

A request names a branch and the commit it builds on (`base_sha`), a message, an author and
its changes: each a repository path with its new content (text, or base64 for binary) or a
deletion. Refused with InvalidRequest, naming the rule and never echoing content:
- no change, more than `max_files`, a path given twice, a path under another changed path
  (`a` and `a/b`: one would have to be a file and a directory at once);
- a path that breaks domain/repo_paths.py (`..`, absolute, `.git`, backslashes, controls);
- a change with none or more than one of `content`, `contentBase64`, `delete: true`;
  base64 that does not decode strictly;
- a file over `max_file_bytes`, or files over `max_total_bytes` together (decoded sizes);
- an empty message or one over `max_message_bytes`, or one holding NUL (git cannot keep it);
- an author whose name or email is empty, too long, or holds `<`, `>` or a control
  character (git would have to rewrite or refuse it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.domain.checks import CheckLevel, validate_level, validate_sha
from chalicelib.domain.ids import validate_branch
from chalicelib.domain.repo_paths import repository_path
from chalicelib.errors import InvalidRequest, PayloadTooLarge

MAX_NAME = 200
MAX_EMAIL = 254
_SIGNATURE_FORBIDDEN = re.compile(r"[<>\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CommitLimits:
    max_files: int = 200
    max_file_bytes: int = 1024 * 1024
    max_total_bytes: int = 4 * 1024 * 1024
    max_message_bytes: int = 64 * 1024


@dataclass(frozen=True)
class RawChange:
    """One change as the wire gives it (api/models.py checked its types)."""

    path: str
    content: str | None = field(default=None, repr=False)
    content_base64: str | None = field(default=None, repr=False)
    delete: bool | None = None


@dataclass(frozen=True)
class FileChange:
    """A file's new bytes at `path`, or its deletion (`content` None)."""

    path: str
    content: bytes | None = field(default=None, repr=False)

    @property
    def deleted(self) -> bool:
        return self.content is None


@dataclass(frozen=True)
class Author:
    name: str
    email: str


@dataclass(frozen=True)
class CommitRequest:
    branch: str
    base_sha: str
    message: str
    author: Author
    changes: tuple[FileChange, ...]
    check: CheckLevel | None = None

    @property
    def written(self) -> list[FileChange]:
        return [c for c in self.changes if not c.deleted]


@dataclass(frozen=True)
class CommitMeta:
    """What the commit object says besides its tree and parent: the same meta over the same
    base and changes makes the same commit (so a retry rebuilds the very same SHA)."""

    message: str
    author: Author
    committer: Author
    time: int  # epoch seconds, UTC


def validate_commit(
    *,
    branch: object,
    base_sha: object,
    message: object,
    author: Author,
    changes: Sequence[RawChange],
    check: object = None,
    limits: CommitLimits = CommitLimits(),
) -> CommitRequest:
    name = validate_branch(branch)
    if name is None:
        raise InvalidRequest("branch is required")
    return CommitRequest(
        branch=name,
        base_sha=_base(base_sha),
        message=_message(message, limits),
        author=Author(_person(author.name, "name", MAX_NAME), _email(author.email)),
        changes=decode_changes(changes, limits),
        check=_check(check),
    )


def decode_changes(changes: Sequence[RawChange], limits: CommitLimits) -> tuple[FileChange, ...]:
    if not changes:
        raise InvalidRequest("changes must name at least one file")
    if len(changes) > limits.max_files:
        raise InvalidRequest(f"a commit may change at most {limits.max_files} files")
    out: list[FileChange] = []
    total = 0
    for raw in changes:
        change = _decode(raw, limits)
        total += len(change.content or b"")
        if total > limits.max_total_bytes:
            raise PayloadTooLarge(f"the files hold more than {limits.max_total_bytes} bytes")
        out.append(change)
    _refuse_overlaps([c.path for c in out])
    return tuple(out)


def _decode(raw: RawChange, limits: CommitLimits) -> FileChange:
    path = repository_path(raw.path)
    given = [raw.content is not None, raw.content_base64 is not None, raw.delete is not None]
    if sum(given) != 1 or raw.delete is False:
        raise InvalidRequest("each change needs exactly one of content, contentBase64 or delete")
    if raw.delete:
        return FileChange(path)
    if raw.content is not None:
        try:
            data = raw.content.encode("utf-8", "strict")
        except UnicodeEncodeError as exc:
            raise InvalidRequest("content is not valid Unicode: send contentBase64") from exc
    else:
        data = _base64(raw.content_base64 or "", limits)
    if len(data) > limits.max_file_bytes:
        raise PayloadTooLarge(f"a file may hold at most {limits.max_file_bytes} bytes")
    return FileChange(path, data)


def _base64(text: str, limits: CommitLimits) -> bytes:
    if len(text) > (limits.max_file_bytes + 2) // 3 * 4 + 4:  # before decoding it
        raise PayloadTooLarge(f"a file may hold at most {limits.max_file_bytes} bytes")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise InvalidRequest("contentBase64 is not valid base64") from exc


def _refuse_overlaps(paths: list[str]) -> None:
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise InvalidRequest("each path may be changed once per commit")
        seen.add(path)
    for path in paths:
        parts = path.split("/")
        if any("/".join(parts[:n]) in seen for n in range(1, len(parts))):
            raise InvalidRequest("a changed path lies under another changed path")


def _check(value: object) -> CheckLevel | None:
    if value is None:
        return None
    try:
        return validate_level(value)
    except InvalidRequest:
        raise InvalidRequest("check must be 'syntax' or 'build'") from None


def _base(value: object) -> str:
    try:
        return validate_sha(value)
    except InvalidRequest:
        raise InvalidRequest("baseSha must be a full commit id: 40 lowercase hex digits") from None


def _message(value: object, limits: CommitLimits) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("message must be a non-empty string")
    if "\x00" in value:
        raise InvalidRequest("message may not hold NUL characters")
    if len(value.encode("utf-8", "surrogatepass")) > limits.max_message_bytes:
        raise InvalidRequest(f"message must be at most {limits.max_message_bytes} bytes")
    return value


def _person(value: object, what: str, longest: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise InvalidRequest(f"author {what} must be 1 to {longest} characters")
    if _SIGNATURE_FORBIDDEN.search(value) or value != value.strip():
        raise InvalidRequest(
            f"author {what} may not hold '<', '>', control characters or outer spaces"
        )
    return value


def _email(value: object) -> str:
    email = _person(value, "email", MAX_EMAIL)
    if any(c.isspace() for c in email):
        raise InvalidRequest("author email may not hold spaces")
    return email


def fingerprint(request: CommitRequest) -> str:
    """A digest of everything a request asks for: an Idempotency-Key sent again with another
    fingerprint is another request, refused (contents enter by their own digest)."""
    changes = [
        [c.path, None if c.content is None else hashlib.sha256(c.content).hexdigest()]
        for c in request.changes
    ]
    canonical = {
        "branch": request.branch,
        "base": request.base_sha,
        "message": request.message,
        "author": [request.author.name, request.author.email],
        "check": request.check,
        "changes": changes,
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
