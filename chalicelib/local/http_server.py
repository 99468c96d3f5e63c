"""The Chalice app over HTTP: chalice's own local server (what `chalice local` runs), in a thread.

The same app object and routes API Gateway would invoke; Chalice's LocalGateway builds the
API Gateway proxy events. Request lines go to the `strata.http` logger at DEBUG.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer, create_local_server

log = logging.getLogger("strata.http")


class _QuietHandler(ChaliceRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class HttpServer:
    """Serves `app` on host:port (0 picks a free port) until stop()."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        config = Config.create(chalice_stage="dev", app_name=getattr(app, "app_name", "strata"))
        if not isinstance(app, LocalChalice):
            # Makes current_request thread-local; the swap is done once per app object
            # (create_local_server would fail on an app it has already converted).
            create_local_server(app, config, host, 0).server.server_close()
        try:
            self._server = LocalDevServer(app, config, host, port, handler_cls=_QuietHandler)
        except OSError as exc:
            why = f"port {port} for the API is unavailable ({exc.strerror}); pick another one"
            raise OSError(exc.errno, why) from None
        self._thread = threading.Thread(
            target=self._server.server.serve_forever, name="strata-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call more than once."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server.server_close()
