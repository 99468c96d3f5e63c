"""The egress proxy on real sockets: what it refuses, and that it connects only where it checked."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from chalicelib.adapters.git_egress_proxy import EgressPolicy, EgressProxy


class Listener:
    """A loopback TCP server that echoes and counts the connections it accepts."""

    def __init__(self) -> None:
        self.accepted = 0
        outer = self

        class Echo(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.accepted += 1
                data = self.request.recv(1024)
                self.request.sendall(data)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def connect(proxy: EgressProxy, target: str) -> tuple[str, socket.socket]:
    port = int(proxy.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    status = sock.recv(1024).split(b"\r\n", 1)[0].decode()
    return status, sock


def test_a_name_that_resolves_to_loopback_is_refused(listener: Listener) -> None:
    proxy = EgressProxy(EgressPolicy([f"git.test:{listener.port}"], lambda h, p: ["127.0.0.1"]))
    status, sock = connect(proxy, f"git.test:{listener.port}")
    sock.close()
    proxy.stop()
    assert "403" in status and listener.accepted == 0


def test_one_private_answer_among_public_ones_refuses_the_name(listener: Listener) -> None:
    resolver = lambda h, p: ["8.8.8.8", "127.0.0.1"]  # noqa: E731
    proxy = EgressProxy(EgressPolicy([f"git.test:{listener.port}"], resolver))
    status, sock = connect(proxy, f"git.test:{listener.port}")
    sock.close()
    proxy.stop()
    assert "403" in status and listener.accepted == 0


def test_the_connection_goes_to_the_address_that_was_checked(listener: Listener) -> None:
    # DNS rebinding: a public answer for the check, loopback for any second lookup.
    answers = iter([["192.0.2.77"], ["127.0.0.1"], ["127.0.0.1"]])
    policy = EgressPolicy(
        [f"git.test:{listener.port}"],
        lambda h, p: next(answers),
        address_ok=lambda a: a == "192.0.2.77",  # stands in for "public" in this test
        connect_timeout=0.5,
    )
    proxy = EgressProxy(policy)
    status, sock = connect(proxy, f"git.test:{listener.port}")
    sock.close()
    proxy.stop()
    assert "502" in status  # it dialled 192.0.2.77 (unreachable), never the loopback listener
    assert listener.accepted == 0


def test_an_allowed_public_target_is_tunnelled(listener: Listener) -> None:
    allowed = [f"git.test:{listener.port}"]
    policy = EgressPolicy(allowed, lambda h, p: ["127.0.0.1"], address_ok=lambda a: True)
    proxy = EgressProxy(policy)
    status, sock = connect(proxy, f"git.test:{listener.port}")
    sock.sendall(b"ping")
    echoed = sock.recv(16)
    sock.close()
    proxy.stop()
    assert "200" in status and echoed == b"ping" and listener.accepted == 1


@pytest.mark.parametrize(
    "target", ["other.test:443", "2130706433:443", "127.0.0.1:443", "[::1]:443", "git.test:0"]
)
def test_hosts_off_the_list_and_addresses_are_refused(target: str) -> None:
    policy = EgressPolicy(["git.test"], lambda h, p: ["8.8.8.8"], address_ok=lambda a: True)
    proxy = EgressProxy(policy)
    status, sock = connect(proxy, target)
    sock.close()
    proxy.stop()
    assert status.split(" ")[1] in ("400", "403")


def test_only_connect_is_served() -> None:
    proxy = EgressProxy(EgressPolicy(["git.test"]))
    port = int(proxy.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET http://git.test/ HTTP/1.1\r\nHost: git.test\r\n\r\n")
        assert b" 405 " in sock.recv(1024)
    proxy.stop()


def test_libgit2_goes_through_the_proxy_and_reports_a_refusal(tmp_path: Path) -> None:
    seen: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        seen.append(host)
        return ["169.254.169.254"]

    proxy = EgressProxy(EgressPolicy(["metadata.test"], resolver))
    repo = pygit2.init_repository(str(tmp_path / "scratch.git"), bare=True)
    remote = repo.remotes.create_anonymous("https://metadata.test/latest/meta-data")
    with pytest.raises(pygit2.GitError, match="403"):
        remote.list_heads(proxy=proxy.url)
    proxy.stop()
    assert seen == ["metadata.test"]
