"""The local stack's and the CLI's defaults, read from the environment in this one place.

    STRATA_PORT        port of the local API (8000)
    STRATA_AWS_PORT    port of the embedded AWS endpoint (0: any free port)
    STRATA_STATE_DIR   where `strata serve` keeps its snapshot and git cache (.strata)
    STRATA_API         the API the CLI talks to (http://127.0.0.1:$STRATA_PORT)
    STRATA_WS_PORT     port of the local WebSocket API, live status ($STRATA_PORT + 1; 0: any)
    STRATA_WS          the WebSocket API `strata index --follow` uses (ws://127.0.0.1:$STRATA_WS_PORT)
    STRATA_API_KEY     the CLI's API key (else the one in $STRATA_STATE_DIR/api-key); for
                       `strata serve`, the local admin key to use instead of making one
    GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL   `strata commit`'s author unless --author says

Like chalicelib/settings.py for the service, nothing else in local mode reads os.environ,
and a command-line option beats the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 8000
DEFAULT_WS_PORT = 8001
KEY_FILE = "api-key"  # in the state directory: the local admin key `strata serve` made


@dataclass(frozen=True)
class LocalConfig:
    port: int = DEFAULT_PORT
    aws_port: int = 0
    state_dir: str = ".strata"
    api_url: str = f"http://127.0.0.1:{DEFAULT_PORT}"
    ws_port: int = DEFAULT_WS_PORT
    ws_url: str = f"ws://127.0.0.1:{DEFAULT_WS_PORT}"
    api_key: str | None = field(default=None, repr=False)
    author: tuple[str, str] | None = None  # (name, email) for `strata commit`

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalConfig:
        e = os.environ if env is None else env
        port = int(e.get("STRATA_PORT") or DEFAULT_PORT)
        ws_port = int(e.get("STRATA_WS_PORT") or (port + 1 if port else 0))
        return cls(
            port=port,
            aws_port=int(e.get("STRATA_AWS_PORT") or 0),
            state_dir=e.get("STRATA_STATE_DIR") or cls.state_dir,
            api_url=(e.get("STRATA_API") or f"http://127.0.0.1:{port}").rstrip("/"),
            ws_port=ws_port,
            ws_url=(e.get("STRATA_WS") or f"ws://127.0.0.1:{ws_port}").rstrip("/"),
            api_key=(e.get("STRATA_API_KEY") or "").strip() or None,
            author=_author(e.get("GIT_AUTHOR_NAME"), e.get("GIT_AUTHOR_EMAIL")),
        )

    @property
    def key_path(self) -> Path:
        return Path(self.state_dir) / KEY_FILE

    def client_api_key(self) -> str | None:
        """The key the CLI sends: STRATA_API_KEY, else the local stack's saved admin key."""
        if self.api_key:
            return self.api_key
        try:
            return self.key_path.read_text(encoding="utf-8").strip() or None
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return None


def _author(name: str | None, email: str | None) -> tuple[str, str] | None:
    if name and name.strip() and email and email.strip():
        return name.strip(), email.strip()
    return None
