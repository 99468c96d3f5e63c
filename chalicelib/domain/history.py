"""Change history: which files past commits touched, and what their messages said.

A request such as "fix the redirect loop when the session cookie expires" often reads like the
messages of earlier commits to the file that needs the change. Each generation keeps the
newest `HISTORY_COMMITS` non-merge commits reachable from its SHA that changed at most
`MAX_CHANGED_FILES` files (a sweeping commit says little about any one file): message and
changed paths. Search scores a file by BM25 over the messages of the commits that touched it.

Stored form (`encode_history`): zlib-compressed JSON `{"format", "commits": [[oid, message,
[path, ...]], ...]}`, newest first. A new generation walks only the commits since the last
generation's SHA (when that SHA is an ancestor) and keeps the newest `HISTORY_COMMITS` of the
two lists together, so a push costs a walk of the pushed commits.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from chalicelib.domain.lexical import Array, idf, length_norms, term_scores
from chalicelib.domain.tokens import query_terms, term_counts

FORMAT = "strata-history-1"
HISTORY_COMMITS = 2000
MAX_CHANGED_FILES = 20
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class CommitChange:
    """One commit: its id, its message (trimmed) and the paths it changed."""

    oid: str
    message: str
    paths: tuple[str, ...]


def keep_commit(parents: int, paths: Sequence[str]) -> bool:
    """Whether a commit says something about the files it touched."""
    return parents == 1 and 0 < len(paths) <= MAX_CHANGED_FILES


def merge_history(
    newer: Sequence[CommitChange], older: Sequence[CommitChange], limit: int = HISTORY_COMMITS
) -> tuple[CommitChange, ...]:
    """The newest `limit` commits of `newer` (newest first) followed by `older`."""
    seen: set[str] = set()
    out: list[CommitChange] = []
    for c in (*newer, *older):
        if c.oid not in seen:
            seen.add(c.oid)
            out.append(c)
        if len(out) >= limit:
            break
    return tuple(out)


def encode_history(commits: Sequence[CommitChange]) -> bytes:
    body = {"format": FORMAT, "commits": [[c.oid, c.message, list(c.paths)] for c in commits]}
    return zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6)


def decode_history(data: bytes) -> tuple[CommitChange, ...]:
    try:
        body = json.loads(zlib.decompress(data))
        if body.get("format") != FORMAT:
            raise ValueError("unknown history format")
        return tuple(
            CommitChange(str(oid), str(message), tuple(str(p) for p in paths))
            for oid, message, paths in body["commits"]
        )
    except (zlib.error, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"corrupt history segment: {exc}") from exc


class HistoryIndex:
    """BM25 over one document per file: the messages of the commits that changed it."""

    def __init__(self, commits: Iterable[CommitChange], paths: Sequence[str]) -> None:
        self._paths = tuple(paths)
        index = {p: i for i, p in enumerate(self._paths)}
        docs: list[Counter[str]] = [Counter() for _ in self._paths]
        for c in commits:
            terms = term_counts(c.message[:MAX_MESSAGE_CHARS])
            for p in c.paths:
                i = index.get(p)
                if i is not None:
                    docs[i].update(terms)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, n in doc.items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(n)
        self._postings = {
            t: (np.array(ids, np.int64), np.array(tfs, np.float64))
            for t, (ids, tfs) in postings.items()
        }
        lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
        mean = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0
        self._norms = length_norms(lengths, mean)

    @property
    def paths(self) -> Sequence[str]:
        return self._paths

    def scores(self, query: str) -> Array:
        """BM25 of every path's history document for `query` (zeros when nothing matches)."""
        scores = np.zeros(len(self._paths), dtype=np.float64)
        for term in query_terms(query):
            posting = self._postings.get(term)
            if posting is None:
                continue
            ids, tf = posting
            scores[ids] += term_scores(idf(len(self._paths), len(ids)), tf, self._norms[ids])
        return scores
