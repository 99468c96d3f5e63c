"""Repository-relative paths that come from outside (check requests, commit changes, files a
build run materializes): one set of rules for every one of them. Pure.

A path names a file (or, where a caller allows it, a directory) inside a commit's tree, with
`/` between segments: `src/app.py`. Refused, because each could name something outside the
tree, inside git's own data, or another file once checked out somewhere:
- an empty path, one over MAX_PATH_LENGTH characters, a segment over MAX_SEGMENT_BYTES bytes
  of UTF-8 (what file systems hold);
- control characters (NUL, newline, DEL, ...) and backslashes;
- an absolute path: a leading `/`, or a drive letter (`C:`);
- empty, `.` and `..` segments;
- `.git` as a segment in any case, and the names that alias it on other file systems, which
  git itself refuses in a tree (core.protectNTFS, core.protectHFS): `.git` followed by dots,
  spaces or an NTFS stream (`.git.`, `.git `, `.git::$INDEX_ALLOCATION`), the 8.3 short name
  `git~1`, and `.git` with code points HFS+ ignores (`.g\\u200cit`).
"""

from __future__ import annotations

import re

from chalicelib.errors import InvalidRequest

MAX_PATH_LENGTH = 1024
MAX_SEGMENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# What HFS+ drops when it compares names (git's utf8.c, next_hfs_char).
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
_DOT_GIT = re.compile(r"^\.git[. ]*(:.*)?$")
_SHORT_NAME = "git~1"


def repository_path(raw: object, *, directory: bool = False) -> str:
    """`raw` checked as a path inside the tree; with `directory`, a trailing `/` (a directory)
    is allowed and dropped. InvalidRequest says which rule it broke (never echoing it)."""
    if not isinstance(raw, str) or not raw:
        raise InvalidRequest("each path must be a non-empty string")
    if len(raw) > MAX_PATH_LENGTH:
        raise InvalidRequest(f"a path must be at most {MAX_PATH_LENGTH} characters")
    if _CONTROL.search(raw) or "\\" in raw:
        raise InvalidRequest("a path may not hold control characters or backslashes")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise InvalidRequest("paths are relative to the repository root (no leading '/')")
    path = raw[:-1] if directory and raw.endswith("/") else raw
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidRequest("a path may not hold empty, '.' or '..' segments")
        if is_git_dir_name(segment):
            raise InvalidRequest("paths inside .git are not part of the tree")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise InvalidRequest(f"a path segment must be at most {MAX_SEGMENT_BYTES} bytes")
    return path


def is_git_dir_name(segment: str) -> bool:
    """Whether a file system could take `segment` for the `.git` directory."""
    name = _HFS_IGNORED.sub("", segment).lower()
    return bool(_DOT_GIT.match(name)) or name.rstrip(". ") == _SHORT_NAME
