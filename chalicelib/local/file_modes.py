"""The state directory is private: it holds KMS key material, sealed tokens and the webhook
secret. Directories are 0700 and files 0600, whoever made them (the store, libgit2's clone
cache, an older Strata, a user's cp -r).

While the stack runs, the process umask is 077, so nothing it creates there (libgit2 writes
its objects 0444, which the umask makes 0400) is open to others; `restrict_tree` then
normalises everything on start and on a clean stop. Symbolic links are left alone (chmod
would follow them out of the directory).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_tree(root: Path) -> int:
    """Make `root` and everything under it 0700 (directories) or 0600; how many changed."""
    changed = _restrict(str(root))
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            changed += _restrict(os.path.join(top, name))
    return changed


def _restrict(path: str) -> int:
    try:
        info = os.lstat(path)
    except FileNotFoundError:  # gone meanwhile
        return 0
    if stat.S_ISLNK(info.st_mode):
        return 0
    wanted = DIR_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
    if stat.S_IMODE(info.st_mode) == wanted:
        return 0
    os.chmod(path, wanted)
    return 1


@contextmanager
def private_umask() -> Iterator[None]:
    """Umask 077 for the process while the stack runs (the umask is per process)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)
