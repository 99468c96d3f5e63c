"""Which git credentials go where (domain/credentials.py): a request offers the caller's own
first and the server token only for an admin, in scope; a worker offers every tenant's
stored token and the server token only where an admin relied on it, in scope."""

from __future__ import annotations

import pytest

from chalicelib.domain.credentials import (
    RequestCredentials,
    ServerToken,
    request_credentials,
    worker_credentials,
)

ORG = "https://github.com/my-org/repo.git"
ELSEWHERE = "https://evil.example/attacker/repo"
SERVER = ServerToken("srv", ("github.com/my-org",))


@pytest.mark.parametrize(
    ("given", "stored", "own"),
    [
        ("mine", None, ("mine",)),
        ("mine", "kept", ("mine",)),  # the request's token wins
        (None, "kept", ("kept", None)),  # a lapsed token on a public repository
        (None, None, (None,)),
    ],
)
def test_a_request_offers_the_callers_own_credentials_first(
    given: str | None, stored: str | None, own: tuple[str | None, ...]
) -> None:
    offer = request_credentials(ORG, given=given, stored=stored, admin=False, server=SERVER)
    assert offer == RequestCredentials(own, None)


def test_the_server_token_is_offered_to_an_admin_only_in_scope() -> None:
    admin = request_credentials(ORG, given=None, stored=None, admin=True, server=SERVER)
    assert admin == RequestCredentials((None,), "srv")
    for remote in (ELSEWHERE, "https://github.com/other-org/repo", "https://github.com/my-org"):
        offer = request_credentials(remote, given=None, stored=None, admin=True, server=SERVER)
        assert offer.server is None, remote


def test_an_empty_scope_sends_the_server_token_nowhere() -> None:
    unscoped = ServerToken("srv", ())
    assert (
        request_credentials(ORG, given=None, stored=None, admin=True, server=unscoped).server
        is None
    )
    assert worker_credentials(ORG, tokens=[], server_allowed=True, server=unscoped) == [None]


def test_the_server_token_is_not_offered_twice() -> None:
    offer = request_credentials(ORG, given="srv", stored=None, admin=True, server=SERVER)
    assert offer == RequestCredentials(("srv",), None)


def test_a_worker_offers_every_stored_token_then_anonymous() -> None:
    order = worker_credentials(ORG, tokens=["a", "b", "a"], server_allowed=False, server=SERVER)
    assert order == ["a", "b", None]


def test_a_worker_offers_the_server_token_only_where_an_admin_relied_on_it_in_scope() -> None:
    assert worker_credentials(ORG, tokens=["a"], server_allowed=True, server=SERVER) == [
        "a",
        None,
        "srv",
    ]
    assert "srv" not in worker_credentials(ELSEWHERE, tokens=[], server_allowed=True, server=SERVER)


def test_the_server_token_never_shows_in_a_repr() -> None:
    assert "srv" not in repr(SERVER)
    assert "srv" not in repr(RequestCredentials((None,), "srv"))
