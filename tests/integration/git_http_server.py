"""A smart-HTTP git server on 127.0.0.1 for tests: `git http-backend` behind http.server.

    with GitHttpServer(root, password="s3cret") as server:
        url = server.url("repo")          # http://127.0.0.1:<port>/repo

With a password, every request needs HTTP Basic auth with that password (any user name) and is
otherwise answered 401 with `WWW-Authenticate: Basic realm="git"`, like a private repository on
a git host; `wrong_password_status=403` mimics hosts that answer a refused token with 403.
Without a password it serves anonymously. `requests` records (method, path, status), so a test
can tell whether a client talked to the server at all; `authorizations` records every
Authorization header received (`passwords()` decodes the Basic ones), so a test can tell which
credentials a client offered.

With `tls` (an ssl server context, tests/egress.py makes one) it serves HTTPS, and `host`
names it in its URLs (`https://git.test:<port>/repo`; `address` is where it listens,
127.0.0.1 by default): libgit2 reaches it through the egress proxy, whose resolver maps that
name to the address. With `redirect_to`, every request is answered
`302 Location: <redirect_to><path>` instead. `on_receive_pack`, when set, runs just before
a push's receive-pack request is handed to git (after the client read the branch heads):
a test moves a branch there to race a push.
"""

from __future__ import annotations

import base64
import binascii
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

_BACKEND_TIMEOUT_SECONDS = 10


class GitHttpServer:
    """Serves the repositories under `root` (bare or not) on an ephemeral port."""

    def __init__(
        self,
        root: Path,
        *,
        password: str | None = None,
        wrong_password_status: int = 401,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        redirect_to: str | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        self.root = root
        self.password = password
        self.wrong_password_status = wrong_password_status
        self.host = host
        self.scheme = "https" if tls else "http"
        self.redirect_to = redirect_to
        self.requests: list[tuple[str, str, int]] = []
        self.authorizations: list[str] = []
        self.on_receive_pack: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._httpd = _TlsServer((address, 0), _handler_for(self), tls)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, name: str) -> str:
        return f"{self.scheme}://{self.netloc}/{name}"

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def record_authorization(self, header: str) -> None:
        with self._lock:
            self.authorizations.append(header)

    def passwords(self) -> list[str]:
        """The password of every Basic Authorization header received, in order."""
        with self._lock:
            headers = list(self.authorizations)
        return [_basic_password(h) or "" for h in headers]

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=0.02)  # short: stop() waits for one poll

    def start(self) -> GitHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> GitHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _TlsServer(ThreadingHTTPServer):
    """The TLS handshake runs in the request's thread: a client that gives up on the
    certificate cannot stall the accept loop."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(address, handler)
        self.tls = tls

    def finish_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        if self.tls is None or not isinstance(request, socket.socket):
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with wrapped:
            super().finish_request(wrapped, client_address)


def _handler_for(server: GitHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_GitHandler):
        git_server = server

    return Handler


class _GitHandler(BaseHTTPRequestHandler):
    git_server: GitHttpServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest output stays readable."""

    def _serve(self) -> None:
        authorization = self.headers.get("Authorization")
        if authorization is not None:
            self.git_server.record_authorization(authorization)
        if self.git_server.redirect_to is not None:
            location = self.git_server.redirect_to + self.path
            self._reply(302, {"Location": location}, b"")
            return
        refusal = self._refusal()
        if refusal is not None:
            self._reply(refusal, {"WWW-Authenticate": 'Basic realm="git"'}, b"access denied\n")
            return
        body = self._body()
        hook = self.git_server.on_receive_pack
        if hook is not None and self.command == "POST" and self.path.endswith("/git-receive-pack"):
            hook()
        output = subprocess.run(
            ["git", "http-backend"],
            input=body,
            env=self._cgi_env(len(body)),
            capture_output=True,
            timeout=_BACKEND_TIMEOUT_SECONDS,
            check=False,
        ).stdout
        status, headers, body = _parse_cgi(output)
        self._reply(status, headers, body)

    def _refusal(self) -> int | None:
        """None to serve; 401 to ask for credentials; the configured status for wrong ones."""
        password = self.git_server.password
        if password is None:
            return None
        header = self.headers.get("Authorization", "")
        if header.partition(" ")[0].lower() != "basic":
            return 401
        given = _basic_password(header)
        return None if given == password else self.git_server.wrong_password_status

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _chunked_body(self) -> bytes:
        parts = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline().strip():  # trailers up to the blank line
            pass
        return b"".join(parts)

    def _cgi_env(self, content_length: int) -> dict[str, str]:
        url = urlsplit(self.path)
        optional = {
            "CONTENT_TYPE": self.headers.get("Content-Type"),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding"),
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol"),
        }
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.git_server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            # http-backend reads exactly CONTENT_LENGTH bytes; the body was de-chunked above.
            "CONTENT_LENGTH": str(content_length),
            "REMOTE_USER": "tester" if self.git_server.password else "",
            "REMOTE_ADDR": self.client_address[0],
            **{key: value for key, value in optional.items() if value},
        }

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.git_server.record(self.command, urlsplit(self.path).path, status)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _basic_password(header: str) -> str | None:
    """The password of `Basic <base64(user:password)>`, or None when it is not one."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return None


def _parse_cgi(output: bytes) -> tuple[int, dict[str, str], bytes]:
    """Split a CGI response into status, headers and body ("Status:" defaults to 200)."""
    head, sep, body = output.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = output.partition(b"\n\n")
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            headers[name.strip()] = value.strip()
    return status, headers, body
