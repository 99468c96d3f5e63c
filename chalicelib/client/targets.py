"""What to index, from what a person types: a directory, an https URL, owner/repo or an id."""

from __future__ import annotations

import re
from pathlib import Path

_ID = re.compile(r"^(github|git|local):\S+$")
_OWNER_REPO = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)/([A-Za-z0-9][A-Za-z0-9._-]*)$")


class NotATarget(ValueError):
    pass


def index_target(target: str) -> dict[str, str]:
    """The keyword arguments of `StrataClient.index_repository` that name `target` (url,
    repository_id, or owner and repo); NotATarget otherwise.
    An existing path wins over the other readings (`acme/widgets` may be a directory)."""
    path = Path(target).expanduser()
    if path.exists():
        if not path.is_dir():
            raise NotATarget(f"{target} is not a directory")
        return {"url": str(path.resolve())}
    if target.startswith("https://"):
        return {"url": target}
    if _ID.match(target):
        return {"repository_id": target}
    if match := _OWNER_REPO.match(target):
        return {"owner": match.group(1), "repo": match.group(2)}
    raise NotATarget(f"{target!r} is not a directory, an https URL, owner/repo or an id")
