"""API keys as values: their format, digest and scopes, and the token bucket (pure code)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.domain.identity import (
    MAX_AUTHORIZATION,
    ApiKey,
    Caller,
    Scope,
    bearer_token,
    digest_matches,
    key_digest,
    new_key,
    parse_key,
    validate_key_id,
    validate_key_name,
    validate_tenant,
)
from chalicelib.domain.rate_limits import Bucket, RatePolicy, full_at, take
from chalicelib.errors import InvalidRequest, NotFound, Unauthenticated

PEPPER = b"p" * 64


def test_a_new_key_reads_strata_id_secret_and_parses_back() -> None:
    key = new_key()
    assert key.token == f"strata_{key.key_id}_{key.secret}"
    assert len(key.key_id) == 12 and key.key_id.isalnum() and key.key_id.islower()
    assert len(key.secret) == 43  # 256 bits of base64url, unpadded
    assert parse_key(key.token) == key
    assert new_key() != key


@pytest.mark.parametrize(
    "token",
    [
        "",
        "strata_",
        "strata_abc_def",
        "strata_ABCDEFGHIJKL_" + "a" * 43,  # upper-case id
        "strata_abcdefghijkl_" + "a" * 42,  # short secret
        "strata_abcdefghijkl_" + "a" * 44,  # long secret
        "strata_abcdefghijkl_" + "a" * 42 + "=",  # not base64url
        "strata_abcdefghijk_" + "a" * 44,  # short id
        "STRATA_abcdefghijkl_" + "a" * 43,
        " strata_abcdefghijkl_" + "a" * 43,
        "strata_abcdefghijkl_" + "a" * 43 + "\n",
        "strata_abcdefghijkl_" + "é" * 43,
    ],
)
def test_a_malformed_key_is_unauthenticated_without_echoing_it(token: str) -> None:
    with pytest.raises(Unauthenticated, match="malformed") as raised:
        parse_key(token)
    if token.strip():
        assert token.strip() not in raised.value.message


def test_the_digest_is_hmac_sha256_of_the_secret_under_the_pepper() -> None:
    secret = new_key().secret
    expected = hmac.new(PEPPER, secret.encode(), hashlib.sha256).hexdigest()
    assert key_digest(PEPPER, secret) == expected
    assert secret not in expected
    assert key_digest(b"q" * 64, secret) != expected  # useless without the pepper
    assert digest_matches(PEPPER, secret, expected)
    assert not digest_matches(PEPPER, secret + "x", expected)
    assert not digest_matches(b"q" * 64, secret, expected)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer strata_x", "strata_x"),
        ("bearer strata_x", "strata_x"),
        ("  Bearer   strata_x  ", "strata_x"),
    ],
)
def test_the_bearer_token_of_an_authorization_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwdw==", "strata_x", "Token strata_x"]
)
def test_a_missing_or_foreign_authorization_is_unauthenticated(header: str | None) -> None:
    with pytest.raises(Unauthenticated, match="Authorization: Bearer"):
        bearer_token(header)


def test_a_huge_authorization_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        bearer_token("Bearer " + "a" * MAX_AUTHORIZATION)


def test_scopes_are_ordered_read_index_admin() -> None:
    read, index, admin = (Caller("k", "t", s) for s in (Scope.READ, Scope.INDEX, Scope.ADMIN))
    assert read.allows(Scope.READ) and not read.allows(Scope.INDEX)
    assert index.allows(Scope.READ) and index.allows(Scope.INDEX)
    assert not index.allows(Scope.ADMIN)
    assert admin.allows(Scope.ADMIN) and admin.is_admin and not index.is_admin
    assert read.actor == "key:k"


@pytest.mark.parametrize(("raw", "scope"), [("read", Scope.READ), ("ADMIN", Scope.ADMIN)])
def test_a_scope_parses_from_its_label(raw: str, scope: Scope) -> None:
    assert Scope.parse(raw) is scope
    assert Scope.parse(scope.label) is scope


@pytest.mark.parametrize("raw", [None, "", "root", "READ ", 3, ["read"]])
def test_an_unknown_scope_is_invalid(raw: object) -> None:
    with pytest.raises(InvalidRequest, match="scope must be one of"):
        Scope.parse(raw)


@pytest.mark.parametrize("raw", [None, "", "Acme", "-acme", "a" * 64, "ac me", "acmé", "acme\n", 7])
def test_a_bad_tenant_is_invalid(raw: object) -> None:
    with pytest.raises(InvalidRequest, match="tenant"):
        validate_tenant(raw)


def test_a_key_name_is_one_line_of_at_most_100_characters() -> None:
    assert validate_key_name(None) is None
    assert validate_key_name("  ") is None
    assert validate_key_name("ci bot") == "ci bot"
    for bad in ("x" * 101, "two\nlines", "\x1b[31m", "\ud800", 5):
        with pytest.raises(InvalidRequest, match="name"):
            validate_key_name(bad)


@pytest.mark.parametrize(
    "raw", ["", "abc", "ABCDEFGHIJKL", "abcdefghijkl/", "abcdefghijkl\n", "../../etc"]
)
def test_a_key_id_that_cannot_exist_is_not_found(raw: str) -> None:
    with pytest.raises(NotFound, match="no API key"):
        validate_key_id(raw)
    assert validate_key_id("abcdefghijk0") == "abcdefghijk0"


def test_last_used_at_is_due_again_after_a_minute() -> None:
    key = ApiKey("k", "t", Scope.READ, "d", created_at=0.0)
    assert key.needs_touch(100.0)
    used = ApiKey("k", "t", Scope.READ, "d", created_at=0.0, last_used_at=100.0)
    assert not used.needs_touch(159.9)
    assert used.needs_touch(160.0)


# --- the token bucket ------------------------------------------------------------------

POLICY = RatePolicy(per_second=2.0, burst=3)


def spend(bucket: Bucket | None, now: float, times: int) -> Bucket | None:
    for _ in range(times):
        draw = take(bucket, now, POLICY)
        assert draw.allowed
        bucket = draw.bucket
    return bucket


def test_a_full_bucket_allows_the_burst_then_refuses_with_whole_seconds() -> None:
    bucket = spend(None, 100.0, 3)
    draw = take(bucket, 100.0, POLICY)
    assert not draw.allowed
    assert draw.retry_after == 1  # half a second at 2/s, rounded up to a whole second
    slow = take(Bucket(0.0, 100.0), 100.0, RatePolicy(per_second=0.1, burst=3))
    assert (slow.allowed, slow.retry_after) == (False, 10)


def test_a_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    bucket = spend(None, 100.0, 3)
    assert take(bucket, 100.5, POLICY).allowed  # one token after half a second
    assert take(bucket, 1000.0, POLICY).bucket.tokens == 2.0  # capped at 3, minus one
    draw = take(bucket, 100.25, POLICY)
    assert not draw.allowed and draw.bucket.tokens == pytest.approx(0.5)


def test_every_write_moves_the_version_and_a_refusal_writes_nothing_new() -> None:
    first = take(None, 100.0, POLICY).bucket
    assert first.version == 1
    assert take(first, 100.0, POLICY).bucket.version == 2
    empty = Bucket(0.0, 100.0, 7)
    assert take(empty, 100.0, POLICY).bucket.version == 7


def test_a_clock_that_goes_back_refills_nothing() -> None:
    bucket = Bucket(0.0, 100.0, 1)
    draw = take(bucket, 50.0, POLICY)
    assert not draw.allowed
    assert draw.bucket.at == 100.0


def test_a_bucket_may_be_forgotten_once_it_is_full_again() -> None:
    assert full_at(Bucket(1.0, 100.0), POLICY) == 101.0
    assert full_at(Bucket(3.0, 100.0), POLICY) == 100.0


def test_a_zero_rate_turns_the_limit_off() -> None:
    assert not RatePolicy(0.0, 10).enabled
    assert not RatePolicy(1.0, 0).enabled
    assert POLICY.enabled
