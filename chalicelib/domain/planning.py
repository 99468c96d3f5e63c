"""What an index job must do, decided from two path->oid maps and a tree listing.

Pure: the git walk happens in the GitEngine adapter; here we only decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.languages import is_vendored_or_generated, language_for
from chalicelib.domain.models import TreeEntry

MODE_SUBMODULE = 0o160000
MODE_SYMLINK = 0o120000


@dataclass(frozen=True)
class PlannedFile:
    path: str
    oid: str
    language: str
    size: int


@dataclass(frozen=True)
class Plan:
    """All indexable files at a commit, what was skipped by path/size, and what to parse."""

    files: tuple[PlannedFile, ...]
    skipped: Mapping[str, int]
    to_parse: tuple[PlannedFile, ...]
    reused: int
    batches: tuple[tuple[PlannedFile, ...], ...] = field(default=())
    history: str | None = None  # the generation's change-history segment (domain/history.py)


def skip_reason(entry: TreeEntry, max_file_bytes: int) -> str | None:
    if entry.mode == MODE_SUBMODULE:
        return "submodule"
    if entry.mode == MODE_SYMLINK:
        return "symlink"
    generated = is_vendored_or_generated(entry.path)
    if generated:
        return generated
    if entry.size > max_file_bytes:
        return "tooLarge"
    return None


def plan_tree(
    entries: Iterable[TreeEntry],
    *,
    known: Mapping[str, str],
    max_file_bytes: int,
    max_batch_files: int,
    max_batch_bytes: int,
) -> Plan:
    """Decide which blobs need parsing.

    `known` maps path -> oid of the base generation: a file whose (oid, language) was
    already in it has an artifact and is reused. Blobs are parsed once per (oid, language)
    even when several paths share them.
    """
    skipped: Counter[str] = Counter()
    files: list[PlannedFile] = []
    known_blobs = {(oid, language_for(path)) for path, oid in known.items()}
    for entry in entries:
        reason = skip_reason(entry, max_file_bytes)
        if reason:
            skipped[reason] += 1
            continue
        files.append(PlannedFile(entry.path, entry.oid, language_for(entry.path), entry.size))
    files.sort(key=lambda f: f.path)
    seen: set[tuple[str, str]] = set()
    to_parse: list[PlannedFile] = []
    for f in files:
        blob = (f.oid, f.language)
        if blob in known_blobs or blob in seen:
            continue
        seen.add(blob)
        to_parse.append(f)
    batches = batch_files(to_parse, max_batch_files, max_batch_bytes)
    return Plan(
        files=tuple(files),
        skipped=dict(skipped),
        to_parse=tuple(to_parse),
        reused=len(files) - len(to_parse),
        batches=batches,
    )


def batch_files(
    files: Sequence[PlannedFile], max_files: int, max_bytes: int
) -> tuple[tuple[PlannedFile, ...], ...]:
    """Consecutive batches bounded by count and bytes (a single large file gets its own)."""
    batches: list[tuple[PlannedFile, ...]] = []
    current: list[PlannedFile] = []
    size = 0
    for f in files:
        if current and (len(current) >= max_files or size + f.size > max_bytes):
            batches.append(tuple(current))
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        batches.append(tuple(current))
    return tuple(batches)
