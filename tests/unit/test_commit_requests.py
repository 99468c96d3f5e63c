"""What a commit request must be before anything touches git (domain/commits.py), the one set
of path rules it shares with checks (domain/repo_paths.py), Idempotency-Key values, and the
answers a record keeps. Each refusal names its rule: removing a rule fails its case here."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.domain.commit_outcomes import (
    MAX_COMMIT_DIAGNOSTICS,
    CommitResult,
    branch_moved,
    check_failed,
    decode_outcome,
    encode_outcome,
)
from chalicelib.domain.commits import (
    Author,
    CommitLimits,
    RawChange,
    fingerprint,
    validate_commit,
)
from chalicelib.domain.diagnostics import Diagnostic
from chalicelib.domain.idempotency import validate_idempotency_key
from chalicelib.domain.repo_paths import MAX_PATH_LENGTH, MAX_SEGMENT_BYTES, repository_path
from chalicelib.errors import InvalidRequest, PayloadTooLarge

BASE = "a" * 40
ADA = Author("Ada Lovelace", "ada@example.com")
LIMITS = CommitLimits(max_files=3, max_file_bytes=100, max_total_bytes=150, max_message_bytes=50)


def ask(*changes: RawChange, **fields: object) -> dict[str, Any]:
    given: dict[str, Any] = {
        "branch": "main",
        "base_sha": BASE,
        "message": "fix",
        "author": ADA,
        "changes": list(changes) or [RawChange("a.py", "x = 1\n")],
        "limits": LIMITS,
    }
    return {**given, **fields}


# Every rule of repo_paths, each case breaking that rule alone.
HOSTILE_PATHS = [
    ("../etc/passwd", "'..'"),
    ("a/../../b", "'..'"),
    ("./a.py", "'.'"),
    ("a//b.py", "empty"),
    ("/etc/passwd", "relative"),
    ("C:/Windows/win.ini", "relative"),
    ("a\\b.py", "backslashes"),
    ("a\x00b.py", "control"),
    ("a\nb.py", "control"),
    ("a\x7fb.py", "control"),
    (".git/config", ".git"),
    ("src/.GIT/hooks/pre-commit", ".git"),
    (".git./config", ".git"),  # NTFS drops trailing dots
    (".git /config", ".git"),  # and trailing spaces
    (".git::$INDEX_ALLOCATION/config", ".git"),  # an NTFS stream of the directory
    ("GIT~1/config", ".git"),  # its 8.3 short name
    (".g\u200cit/config", ".git"),  # HFS+ ignores U+200C
    ("\ufeff.git/hooks/x", ".git"),
    ("a/" * (MAX_PATH_LENGTH // 2) + "b", f"at most {MAX_PATH_LENGTH} characters"),
    ("d/" + "é" * 128, "segment"),  # 256 bytes of UTF-8 in 128 characters
    ("", "non-empty"),
]


@pytest.mark.parametrize(("path", "words"), HOSTILE_PATHS)
def test_a_commit_refuses_each_path_that_could_leave_the_tree(path: str, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        validate_commit(**ask(RawChange(path, "x")))


def test_paths_that_only_look_like_git_data_are_files_like_any_other() -> None:
    for path in (".github/workflows/ci.yml", ".gitignore", "git~2", "a/.gitx", "x.git/y"):
        assert repository_path(path) == path
    assert repository_path("d/" + "é" * 127) == "d/" + "é" * 127  # 254 bytes
    assert len(("é" * 127).encode()) <= MAX_SEGMENT_BYTES


def test_a_file_path_keeps_no_trailing_slash_but_a_directory_drops_it() -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        repository_path("src/")
    assert repository_path("src/", directory=True) == "src"


def test_text_binary_and_deletion_decode_to_bytes_or_nothing() -> None:
    png = bytes(range(256))
    request = validate_commit(
        **ask(
            RawChange("a.py", "π = 3\n"),
            RawChange("logo.png", content_base64=base64.b64encode(png[:90]).decode()),
            RawChange("old.py", delete=True),
            limits=replace(LIMITS, max_total_bytes=1000),
        )
    )
    assert [(c.path, c.content) for c in request.changes] == [
        ("a.py", "π = 3\n".encode()),
        ("logo.png", png[:90]),
        ("old.py", None),
    ]
    assert [c.path for c in request.written] == ["a.py", "logo.png"]


MALFORMED = [
    (RawChange("a.py"), "exactly one"),
    (RawChange("a.py", "x", delete=True), "exactly one"),
    (RawChange("a.py", "x", content_base64="eA=="), "exactly one"),
    (RawChange("a.py", delete=False), "exactly one"),
    (RawChange("a.py", content_base64="not base64!"), "base64"),
    (RawChange("a.py", content_base64="eA="), "base64"),  # padding cut short
    (RawChange("a.py", content_base64="eA==!"), "base64"),  # not skipped: refused
    (RawChange("a.py", "\ud800"), "Unicode"),
]


@pytest.mark.parametrize(("change", "words"), MALFORMED)
def test_a_change_needs_exactly_one_valid_content(change: RawChange, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        validate_commit(**ask(change))


def test_a_path_is_changed_once_and_never_under_another_changed_path() -> None:
    with pytest.raises(InvalidRequest, match="once"):
        validate_commit(**ask(RawChange("a.py", "1"), RawChange("a.py", "2")))
    with pytest.raises(InvalidRequest, match="under another"):
        validate_commit(**ask(RawChange("a", "1"), RawChange("a/b.py", "2")))


B64_101 = base64.b64encode(b"x" * 101).decode()
OVERSIZED = [
    ([RawChange("a.py", "x" * 101)], PayloadTooLarge, "at most 100 bytes"),
    ([RawChange("a.py", content_base64=B64_101)], PayloadTooLarge, "at most 100 bytes"),
    ([RawChange("a.py", content_base64="%" * 1000)], PayloadTooLarge, "at most 100 bytes"),
    ([RawChange(f"{n}.py", "x" * 60) for n in range(3)], PayloadTooLarge, "more than 150 bytes"),
    ([RawChange(f"{n}.py", "x") for n in range(4)], InvalidRequest, "at most 3 files"),
    ([], InvalidRequest, "at least one"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "error", "words"), OVERSIZED)
def test_oversized_commits_are_refused_by_the_limit_they_pass(
    changes: list[RawChange], error: type[Exception], words: str
) -> None:
    fields = ask()
    fields["changes"] = changes
    with pytest.raises(error, match=words):
        validate_commit(**fields)


BAD_FIELDS = [
    ({"message": ""}, "message"),
    ({"message": "   "}, "message"),
    ({"message": "a\x00b"}, "NUL"),
    ({"message": "x" * 51}, "at most 50 bytes"),
    ({"branch": "../main"}, "branch"),
    ({"branch": None}, "branch is required"),
    ({"base_sha": "abc"}, "baseSha"),
    ({"base_sha": "A" * 40}, "baseSha"),
    ({"check": "lint"}, "check must be"),
    ({"author": Author("", "a@b")}, "name"),
    ({"author": Author("Eve <eve@evil>", "a@b")}, "'<'"),
    ({"author": Author("Eve\nEvil", "a@b")}, "control"),
    ({"author": Author(" Eve", "a@b")}, "outer spaces"),
    ({"author": Author("Eve", "e ve@b")}, "spaces"),
    ({"author": Author("Eve", "eve@b>")}, "'<'"),
    ({"author": Author("Eve", "x" * 255)}, "email"),
]


@pytest.mark.parametrize(("fields", "words"), BAD_FIELDS)
def test_message_branch_base_check_and_author_are_checked(
    fields: dict[str, object], words: str
) -> None:
    with pytest.raises(InvalidRequest, match=words):
        validate_commit(**ask(**fields))


def test_the_fingerprint_covers_every_field_and_each_file_content() -> None:
    one = validate_commit(**ask())
    assert fingerprint(one) == fingerprint(validate_commit(**ask()))
    others = [
        ask(RawChange("a.py", "x = 2\n")),
        ask(RawChange("b.py", "x = 1\n")),
        ask(RawChange("a.py", delete=True)),
        ask(message="other"),
        ask(branch="dev"),
        ask(base_sha="b" * 40),
        ask(author=Author("Ada Lovelace", "ada@example.org")),
        ask(check="syntax"),
    ]
    prints = {fingerprint(validate_commit(**o)) for o in others}
    assert len(prints) == len(others) and fingerprint(one) not in prints


def test_idempotency_keys_are_printable_ascii_without_spaces() -> None:
    assert validate_idempotency_key(None) is None
    assert validate_idempotency_key("0b3f6c1e-9a7d-4e2b-8f00-1a2b3c4d5e6f") is not None
    for bad in ("", "a b", "é", "x" * 256, "a\nb", 7):
        with pytest.raises(InvalidRequest, match="Idempotency-Key"):
            validate_idempotency_key(bad)


def test_an_outcome_reads_back_the_same_from_its_record() -> None:
    found = [Diagnostic("a.py", 1, 5, 1, 6, "error", "invalid syntax", "python")]
    failed = check_failed("local:x", "main", BASE, found * (MAX_COMMIT_DIAGNOSTICS + 1))
    assert failed.truncated and len(failed.diagnostics) == MAX_COMMIT_DIAGNOSTICS
    moved = branch_moved("local:x", "main", BASE, "b" * 40)
    for outcome in (failed, moved, branch_moved("local:x", "main", BASE, None)):
        assert decode_outcome(encode_outcome(outcome)) == outcome
    assert moved.result is CommitResult.BRANCH_MOVED and "b" * 40 in moved.message


def test_the_wire_models_bounds_agree_with_the_domain() -> None:
    from chalicelib.api import models
    from chalicelib.domain import commits, idempotency, repo_paths

    limits = CommitLimits()
    assert limits.max_files == models.MAX_COMMIT_FILES
    assert limits.max_message_bytes == models.MAX_COMMIT_MESSAGE
    assert (models.MAX_AUTHOR_NAME, models.MAX_AUTHOR_EMAIL) == (
        commits.MAX_NAME,
        commits.MAX_EMAIL,
    )
    assert models.MAX_CHECK_PATH == repo_paths.MAX_PATH_LENGTH
    assert models.IDEMPOTENCY_KEY_PATTERN == idempotency.KEY_PATTERN
