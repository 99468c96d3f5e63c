"""The git engine's only way out is the egress proxy: names that resolve to private addresses,
redirects, TLS failures and local paths outside the roots all end in one generic refusal,
and no connection reaches the address that was refused."""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.git_egress_proxy import EgressPolicy
from chalicelib.adapters.pygit2_remote_calls import CertificateTrust, libgit2_verdict
from chalicelib.domain.remote_policy import REFUSED_REMOTE, address_is_public
from chalicelib.errors import RemoteRefused
from tests.egress import (
    GIT_HOST,
    Guarded,
    Listener,
    guarded_engine,
    only_loopback,
    server_context,
    trust_test_host,
)
from tests.gitrepo import commit_files, init_repo
from tests.integration.git_http_server import GitHttpServer

FILES = {"README.md": "# guarded\n", "src/app.py": "print('hi')\n"}
TOKEN = "ghs_a-token-that-must-stay-home"
REFUSED = f"^{REFUSED_REMOTE}$"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return server_context(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    init_repo(root / "repo", FILES)
    return root


def _guarded(
    tmp_path: Path,
    answers: dict[str, list[str]],
    *,
    address_ok: Callable[[str], bool] = only_loopback,
    trust: CertificateTrust = trust_test_host,
) -> Guarded:
    """An engine whose proxy resolves names from `answers`; by default 127.0.0.1 stands in
    for a public address and the test certificate of git.test is trusted."""
    policy = EgressPolicy(
        (), lambda host, port: answers[host], address_ok=address_ok, connect_timeout=0.5
    )
    return guarded_engine(tmp_path / "cache", [str(tmp_path)], policy=policy, trust=trust)


def _within(seconds: float, call: Callable[[], object]) -> BaseException | None:
    """Run `call` in a thread; the exception it raised. Fails the test if it hangs."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"the git call still runs after {seconds} s (libgit2 hung)"
    return outcome[0]


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


# --- where a name resolves ---------------------------------------------------------------------


def test_an_allowed_name_that_resolves_to_loopback_never_reaches_the_server(
    tmp_path: Path, served: Path, tls: ssl.SSLContext
) -> None:
    # The git server really listens on 127.0.0.1: only the address check stands in the way.
    with GitHttpServer(served, tls=tls, host=GIT_HOST) as server:
        guarded = _guarded(tmp_path, {GIT_HOST: ["127.0.0.1"]}, address_ok=address_is_public)
        guarded.allow(server.netloc)

        with pytest.raises(RemoteRefused, match=REFUSED):
            guarded.engine.resolve_head(server.url("repo"), None, [TOKEN])
        with pytest.raises(RemoteRefused, match=REFUSED):
            guarded.engine.fetch(server.url("repo"), "main", "a" * 40, [TOKEN])
        guarded.proxy.stop()

    assert server.requests == []


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.7", "::1", "fd00::1"])
def test_an_allowed_name_that_resolves_to_a_private_address_is_refused_without_connecting(
    tmp_path: Path, address: str, caplog: pytest.LogCaptureFixture
) -> None:
    guarded = _guarded(tmp_path, {"metadata.test": [address]}, address_ok=address_is_public)
    guarded.allow("metadata.test")

    logs = caplog.at_level(logging.INFO, logger="chalicelib.adapters.git_egress_proxy")
    with logs, pytest.raises(RemoteRefused, match=REFUSED) as raised:
        guarded.engine.resolve_head("https://metadata.test/latest/meta-data", None, [None])
    guarded.proxy.stop()

    # Refused by the policy (403), not a connection that failed (502): nothing was dialled.
    assert "egress refused for metadata.test:443" in caplog.text
    assert address not in str(raised.value) and "metadata.test" not in str(raised.value)


def test_a_host_off_the_list_is_refused_at_connect_time_too(
    tmp_path: Path, served: Path, tls: ssl.SSLContext
) -> None:
    # A remote stored before the allow-list changed still goes through the proxy's list.
    with GitHttpServer(served, tls=tls, host=GIT_HOST) as server:
        guarded = _guarded(tmp_path, {GIT_HOST: ["127.0.0.1"]})
        with pytest.raises(RemoteRefused, match=REFUSED):
            guarded.engine.resolve_head(server.url("repo"), None, [None])
        guarded.proxy.stop()
    assert server.requests == []


# --- redirects ---------------------------------------------------------------------------------


def test_a_redirect_to_a_refused_address_fails_and_is_never_followed_there(
    tmp_path: Path, served: Path, tls: ssl.SSLContext
) -> None:
    inner_tls = server_context(tmp_path / "inner-tls", host="inner.test")
    # A real git server on 127.0.0.2 (loopback, refused): following the redirect would work.
    inner = GitHttpServer(served, tls=inner_tls, host="inner.test", address="127.0.0.2")
    outer = GitHttpServer(served, tls=tls, host=GIT_HOST, redirect_to=f"https://{inner.netloc}")
    with inner, outer:
        answers = {GIT_HOST: ["127.0.0.1"], "inner.test": ["127.0.0.2"]}
        guarded = _guarded(tmp_path, answers, trust=lambda valid, host: host.endswith(".test"))
        guarded.allow(outer.netloc)
        guarded.allow(inner.netloc)  # on the list: only its address is refused

        with pytest.raises(RemoteRefused, match=REFUSED):
            guarded.engine.resolve_head(outer.url("repo"), None, [None])
        guarded.proxy.stop()

    assert [status for _, _, status in outer.requests] == [302]  # libgit2 tried to follow
    assert inner.requests == []


@pytest.mark.parametrize("target", ["https://evil.test", "http://127.0.0.1:{port}"])
def test_a_redirect_off_the_list_or_to_plain_http_fails(
    tmp_path: Path, served: Path, tls: ssl.SSLContext, listener: Listener, target: str
) -> None:
    with GitHttpServer(
        served, tls=tls, host=GIT_HOST, redirect_to=target.format(port=listener.port)
    ) as server:
        guarded = _guarded(tmp_path, {GIT_HOST: ["127.0.0.1"], "evil.test": ["127.0.0.1"]})
        guarded.allow(server.netloc)
        with pytest.raises(RemoteRefused, match=REFUSED):
            guarded.engine.resolve_head(server.url("repo"), None, [None])
        guarded.proxy.stop()
    assert listener.accepted == 0


# --- TLS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [TOKEN, None], ids=["private", "public"])
def test_an_untrusted_certificate_is_refused_at_once_and_no_token_is_sent(
    tmp_path: Path, served: Path, tls: ssl.SSLContext, password: str | None
) -> None:
    with GitHttpServer(served, tls=tls, host=GIT_HOST, password=password) as server:
        guarded = _guarded(tmp_path, {GIT_HOST: ["127.0.0.1"]}, trust=libgit2_verdict)
        guarded.allow(server.netloc)
        remote = server.url("repo")

        resolving = _within(30, lambda: guarded.engine.resolve_head(remote, None, [TOKEN]))
        fetching = _within(30, lambda: guarded.engine.fetch(remote, "main", "a" * 40, [TOKEN]))
        guarded.proxy.stop()

    for raised in (resolving, fetching):
        assert isinstance(raised, RemoteRefused) and str(raised) == REFUSED_REMOTE
    # The self-signed server never saw the token (a private one answered 401 to each request).
    if password:
        assert all(status == 401 for _, _, status in server.requests)


def test_a_server_that_does_not_speak_tls_is_refused(tmp_path: Path, listener: Listener) -> None:
    guarded = _guarded(tmp_path, {GIT_HOST: ["127.0.0.1"]})
    guarded.allow(f"{GIT_HOST}:{listener.port}")  # accepts, then hangs up: no handshake
    raised = _within(
        30,
        lambda: guarded.engine.resolve_head(f"https://{GIT_HOST}:{listener.port}/r", None, [None]),
    )
    guarded.proxy.stop()
    assert isinstance(raised, RemoteRefused) and str(raised) == REFUSED_REMOTE


# --- local paths --------------------------------------------------------------------------------


def test_local_paths_outside_the_roots_are_refused_even_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    init_repo(outside, FILES)
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    engine = guarded_engine(tmp_path / "cache", [str(root)]).engine

    for path in (outside, root / "link", Path("/etc")):
        with pytest.raises(RemoteRefused, match=REFUSED) as raised:
            engine.resolve_head(str(path), None, [None])
        assert str(path) not in str(raised.value)
        with pytest.raises(RemoteRefused, match=REFUSED):
            engine.fetch(str(path), "main", "a" * 40, [None])


# --- ancestry from the cache --------------------------------------------------------------------


def test_is_ancestor_answers_from_the_cache_and_none_when_unknown(tmp_path: Path) -> None:
    path = tmp_path / "repo"
    first = init_repo(path, FILES)
    second = commit_files(path, {"b.txt": "b"})
    engine = guarded_engine(tmp_path / "cache", [str(tmp_path)]).engine
    remote = str(path)
    assert engine.is_ancestor(remote, first, second) is None  # nothing fetched yet

    engine.fetch(remote, "main", second, [None])
    third = commit_files(path, {"c.txt": "c"})  # on the remote, not in the cache

    assert engine.is_ancestor(remote, first, second) is True
    assert engine.is_ancestor(remote, second, first) is False
    assert engine.is_ancestor(remote, second, second) is True
    assert engine.is_ancestor(remote, second, third) is None
    assert os.listdir(tmp_path / "cache")  # it read the cache, never the remote
