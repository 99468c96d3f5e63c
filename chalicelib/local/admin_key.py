"""The local stack's admin API key: made on the first start, kept in `<state dir>/api-key`.

    key = provide_admin_key(state_dir, preset)   # once the embedded AWS is up (bootstrap)

- `preset` (`STRATA_API_KEY` in the environment of `strata serve`) becomes the admin key: its
  record is created if absent. One that exists with another secret, revoked or without the
  admin scope stops the start (AdminKeyRefused) rather than being silently replaced.
- otherwise the key saved in `<state dir>/api-key` is used while its record is valid (created
  again if the state was wiped); a revoked or unknown-secret one is replaced by a new key.
- otherwise a new admin key (tenant `admin`) is made and saved.

The file is written 0600 (like the rest of the state directory) and the CLI reads it when
STRATA_API_KEY is not set, so `make run` and `strata ...` in another terminal just work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chalicelib import bootstrap
from chalicelib.errors import Unauthenticated
from chalicelib.local.config import KEY_FILE

_NAME = "local admin"
_BY = "local"

Origin = Literal["created", "environment", "file"]


class AdminKeyRefused(RuntimeError):
    """STRATA_API_KEY cannot be the local admin key (the message says why, without it)."""


@dataclass(frozen=True)
class AdminKey:
    token: str
    path: Path
    origin: Origin

    def banner(self, repository_id: str | None = None, query: str = "fenced publish") -> str:
        """What `strata serve` prints: the key in full only when it was just made."""
        if self.origin != "created":
            where = "STRATA_API_KEY" if self.origin == "environment" else str(self.path)
            return f"Admin API key: {where} (the strata command reads {self.path})"
        target = repository_id or "<id>"
        return "\n".join(
            [
                f"Created an admin API key (tenant admin) in {self.path} (mode 0600), which the",
                "strata command run here reads. For another shell or client:",
                f"  export STRATA_API_KEY={self.token}",
                f'  strata search {target} "{query}"',
            ]
        )


def provide_admin_key(state_dir: Path, preset: str | None = None) -> AdminKey:
    """The local admin key, its record made valid in the (configured) embedded AWS."""
    admin = bootstrap.key_admin()
    path = state_dir / KEY_FILE
    if preset:
        try:
            admin.adopt(preset.strip(), name=f"{_NAME} (STRATA_API_KEY)", by=_BY)
        except Unauthenticated as exc:
            raise AdminKeyRefused(f"STRATA_API_KEY cannot be used: {exc.message}") from None
        write_key_file(path, preset.strip())
        return AdminKey(preset.strip(), path, "environment")
    saved = read_key_file(path)
    if saved:
        try:
            admin.adopt(saved, name=_NAME, by=_BY)
            return AdminKey(saved, path, "file")
        except Unauthenticated:
            pass  # revoked, malformed or not this state's: make a new one
    token = admin.create_admin(name=_NAME, by=_BY)
    write_key_file(path, token)
    return AdminKey(token, path, "created")


def read_key_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def write_key_file(path: Path, token: str) -> None:
    """Atomically, mode 0600 from the start (never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(temporary, 0o600)  # whatever the umask
    os.replace(temporary, path)
