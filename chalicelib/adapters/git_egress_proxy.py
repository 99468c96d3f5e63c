"""The only way out for git fetches: an in-process HTTPS CONNECT proxy on 127.0.0.1 that
checks the address each connection really uses.

libgit2 is told to use this proxy for every remote operation (pygit2's `proxy=` argument),
so each connection, including one that follows a redirect, arrives here as
`CONNECT host:port`. The proxy refuses a host off the allow-list, resolves the name once,
refuses it if any address is not public (remote_policy.address_is_public), and connects to
the address it checked: a name that resolves to a public address for a check and to a
private one for the connection (DNS rebinding) cannot pass, because there is no second
lookup. Only CONNECT is served (git over https); a refusal is `403` with no detail, which
the git adapter turns into one generic message.

AWS resources: none; IAM actions: none. One daemon thread accepts; each tunnel uses two
threads while it lasts (a fetch opens one connection at a time).
"""

from __future__ import annotations

import logging
import select
import socket
import socketserver
import threading
from collections.abc import Callable, Sequence

from chalicelib.domain.remote_policy import address_is_public, host_allowed, split_host

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], list[str]]
_HEADER_LIMIT = 16 * 1024
_CONNECT_TIMEOUT = 10.0
_IDLE_TIMEOUT = 120.0


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EgressPolicy:
    """What the proxy lets through: allowed hosts, public addresses only."""

    def __init__(
        self,
        allowed_hosts: Sequence[str],
        resolver: Resolver = system_resolver,
        address_ok: Callable[[str], bool] = address_is_public,
        connect_timeout: float = _CONNECT_TIMEOUT,
    ) -> None:
        self.allowed_hosts = tuple(allowed_hosts)
        self.resolver = resolver
        self.address_ok = address_ok  # tests relax it to reach a loopback server
        self.connect_timeout = connect_timeout

    def address_for(self, host: str, port: int) -> str | None:
        """The checked address to connect to, or None when refused or unresolvable."""
        if not host_allowed(host, port, self.allowed_hosts):
            return None
        try:
            addresses = self.resolver(host, port)
        except OSError:
            return None
        if not addresses or not all(self.address_ok(a) for a in addresses):
            return None  # one private answer refuses the name: no mixing public and private
        return addresses[0]


class _Handler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        client = self.request
        client.settimeout(_CONNECT_TIMEOUT)
        target = self._read_connect(client)
        if target is None:
            return
        host, port = target
        address = self.server.policy.address_for(host, port)
        if address is None:
            log.info("egress refused for %s:%s", host, port)
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = socket.create_connection(
                (address, port), timeout=self.server.policy.connect_timeout
            )
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(client, upstream)

    def _read_connect(self, client: socket.socket) -> tuple[str, int] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = client.recv(4096)
            except OSError:
                return None
            if not chunk or len(data) > _HEADER_LIMIT:
                return None
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return None
        host, port = split_host(parts[1])
        if not host or port is None or port <= 0:
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return None
        return host, port


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes or stays idle too long."""
    a.setblocking(False)
    b.setblocking(False)
    peers = {a: b, b: a}
    while True:
        ready, _, _ = select.select(list(peers), [], [], _IDLE_TIMEOUT)
        if not ready:
            return
        for sock in ready:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            out = peers[sock]
            out.setblocking(True)
            try:
                out.sendall(data)
            except OSError:
                return
            finally:
                out.setblocking(False)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.policy = policy


class EgressProxy:
    """Started on first use; `url` is what pygit2's `proxy=` takes."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._server: _ProxyServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        with self._lock:
            if self._server is None:
                self._server = _ProxyServer(self._policy)
                threading.Thread(
                    target=self._server.serve_forever, name="strata-egress", daemon=True
                ).start()
            port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None
