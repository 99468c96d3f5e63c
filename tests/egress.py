"""The guarded git path for tests: loopback HTTPS git servers reached through the egress proxy.

Deployed, libgit2 only ever connects through the egress proxy (allow-listed host names, public
addresses). Tests keep that path, and name what they relax, explicitly:
- the test server's `git.test:<port>` is put on the proxy's allow-list;
- the proxy's resolver answers `git.test` with 127.0.0.1, and its address check accepts that
  one address (`only_loopback`), standing in for "public";
- the engine trusts the test certificate for `git.test` only (`trust_test_host`).
Nothing here is reachable from settings or the environment: a deployment cannot relax it.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.adapters.git_egress_proxy import EgressPolicy, EgressProxy
from chalicelib.adapters.pygit2_git_engine import Pygit2GitEngine
from chalicelib.adapters.pygit2_remote_calls import CertificateTrust

GIT_HOST = "git.test"
LOOPBACK = "127.0.0.1"


def loopback_resolver(host: str, port: int) -> list[str]:
    return [LOOPBACK]


def only_loopback(address: str) -> bool:
    """The address check of these tests: 127.0.0.1 plays the public address of git.test."""
    return address == LOOPBACK


def trust_test_host(valid: bool, host: str) -> bool:
    return valid or host == GIT_HOST


def server_context(directory: Path, host: str = GIT_HOST) -> ssl.SSLContext:
    """A TLS server context with a fresh self-signed certificate for `host`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / f"{host}.pem", directory / f"{host}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@dataclass
class Guarded:
    """An engine whose only way out is an egress proxy with `policy`."""

    policy: EgressPolicy
    proxy: EgressProxy
    engine: Pygit2GitEngine

    def allow(self, netloc: str) -> None:
        self.policy.allowed_hosts = (*self.policy.allowed_hosts, netloc)


def guarded_engine(
    cache: Path,
    local_roots: list[str],
    *,
    policy: EgressPolicy | None = None,
    trust: CertificateTrust = trust_test_host,
    max_cache_bytes: int = 1 << 30,
) -> Guarded:
    policy = policy or EgressPolicy((), loopback_resolver, address_ok=only_loopback)
    proxy = EgressProxy(policy)
    engine = Pygit2GitEngine(
        str(cache),
        max_cache_bytes=max_cache_bytes,
        egress=proxy,
        local_roots=local_roots,
        certificate_trust=trust,
    )
    return Guarded(policy, proxy, engine)


class Listener:
    """A TCP listener that counts the connections it accepts."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
