"""HttpCallbackTransport: resolves a callback's host and POSTs to the address the service
checked, never to a second lookup of the name (DNS rebinding cannot move a delivery to a
refused address). https verifies the certificate against the host name (SNI); redirects
are not followed (a 3xx is a failed attempt).

AWS resources: none; IAM actions: none. The function needs outbound internet access.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Mapping

from chalicelib.domain.callbacks import CallbackTarget
from chalicelib.errors import TransientError

_MAX_ANSWER = 64 * 1024  # read (and drop) at most this much of an answer


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: CallbackTarget, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: CallbackTarget, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address
        self._context = ssl.create_default_context()

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


class HttpCallbackTransport:
    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self._timeout = timeout_seconds

    def resolve(self, host: str, port: int) -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return []
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def post(
        self, target: CallbackTarget, address: str, body: bytes, headers: Mapping[str, str]
    ) -> int:
        cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        conn = cls(target, address, self._timeout)
        split = target.url.split("/", 3)
        path = "/" + (split[3] if len(split) > 3 else "")
        try:
            conn.request("POST", path, body=body, headers=dict(headers))
            answer = conn.getresponse()
            answer.read(_MAX_ANSWER)
            return int(answer.status)
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(f"callback receiver unreachable: {type(exc).__name__}") from exc
        finally:
            conn.close()
