"""File-level signals over a generation's live files: BM25 over whole files, computed from the
chunk postings of a lexical base (minus tombstones) and delta, per-file maxima of chunk
scores (semantic similarity), and how well a file's name matches the question.

A change request names the file to edit less often than it names several things inside it;
scored as one document, a file collects all of them (on the localization set BM25 over whole
files beats BM25 over chunks, 0.618 vs 0.594 MRR@10). The file documents are the sums of
their chunks' term counts, path terms included, so no second index is stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence, Set

import numpy as np

from chalicelib.domain.lexical import Array, LexicalSegment, idf, length_norms, term_scores
from chalicelib.domain.tokens import query_terms, stem, tokenize

_EMPTY = LexicalSegment.build(())


class LiveFiles:
    """The live files of base + delta - tombstones (as `LexicalView` sees them), sorted by
    path, and for every chunk of base then delta, the index of its live file (-1: dead)."""

    def __init__(
        self, base: LexicalSegment, delta: LexicalSegment | None, tombstones: Set[str]
    ) -> None:
        self.delta = _EMPTY if delta is None else delta
        self.base = base
        shadowed = set(self.delta.paths)
        live_base = [p not in tombstones and p not in shadowed for p in base.paths]
        live = [p for p, ok in zip(base.paths, live_base, strict=True) if ok]
        self.paths: tuple[str, ...] = tuple(sorted((*live, *self.delta.paths)))
        index = {p: i for i, p in enumerate(self.paths)}
        base_files = np.array(
            [index[p] if ok else -1 for p, ok in zip(base.paths, live_base, strict=True)],
            dtype=np.int64,
        )
        delta_files = np.array([index[p] for p in self.delta.paths], dtype=np.int64)
        self.chunk_files: tuple[Array, Array] = (
            base_files[base.chunk_table[:, 0]] if len(base_files) else np.zeros(0, np.int64),
            delta_files[self.delta.chunk_table[:, 0]]
            if len(delta_files)
            else np.zeros(0, np.int64),
        )

    @property
    def parts(self) -> tuple[tuple[LexicalSegment, Array], ...]:
        return ((self.base, self.chunk_files[0]), (self.delta, self.chunk_files[1]))

    def file_max(self, chunk_scores: Sequence[Array]) -> Array:
        """Each live file's highest chunk score (base scores, then delta scores); -inf for a
        file without chunks."""
        best = np.full(len(self.paths), -np.inf)
        for files, scores in zip(self.chunk_files, chunk_scores, strict=True):
            live = files >= 0
            np.maximum.at(best, files[live], scores[live])
        return best


class FileBM25:
    """Okapi BM25 (the lexical segment's k1, b and idf) with one document per live file."""

    def __init__(self, live: LiveFiles) -> None:
        self._live = live
        n = len(live.paths)
        lengths = np.zeros(n, dtype=np.float64)
        for segment, files in live.parts:
            keep = files >= 0
            lengths += np.bincount(
                files[keep], weights=segment.chunk_table[keep, 3].astype(np.float64), minlength=n
            )
        mean = float(lengths.mean()) if n and lengths.mean() > 0 else 1.0
        self._norms = length_norms(lengths, mean)

    def scores(self, query: str) -> Array:
        n = len(self._live.paths)
        scores = np.zeros(n, dtype=np.float64)
        for term in query_terms(query):
            tf = np.zeros(n, dtype=np.float64)
            for segment, files in self._live.parts:
                ids, counts = segment.term_postings(term)
                if len(ids):
                    f = files[ids]
                    keep = f >= 0
                    tf += np.bincount(f[keep], weights=counts[keep], minlength=n)
            hit = np.flatnonzero(tf)
            if len(hit):
                scores[hit] += term_scores(idf(n, len(hit)), tf[hit], self._norms[hit])
        return scores


class FileNames:
    """How well each file's name (without directory and extensions) matches a query: the
    idf-weighted stems the two share. A question describes what it wants ("the logger that
    prints coloured warnings", "how are cookies persisted"), and the file that answers is
    often named after it (logger.ts, FileCookieJar.php); stems let "cookies" meet `Cookie`."""

    def __init__(self, paths: Sequence[str]) -> None:
        self._stems = [frozenset(map(stem, tokenize(_base_name(p)))) for p in paths]
        self._files: dict[str, list[int]] = {}
        for i, stems in enumerate(self._stems):
            for s in stems:
                self._files.setdefault(s, []).append(i)

    def scores(self, query: str) -> Array:
        n = len(self._stems)
        scores = np.zeros(n, dtype=np.float64)
        for s in dict.fromkeys(map(stem, query_terms(query))):
            files = self._files.get(s)
            if files:
                scores[files] += np.log(1.0 + n / len(files))
        return scores


class FileSymbols:
    """Files defining a name the query uses, weighted by how rare the name is (idf over files).

    A declared name is found under its last part and under its last two parts, lowercased,
    without Lean's guillemets and the primes, `!` and `?` its names may end with:
    `Nat.Prime.two_le'` under `two_le` and `prime.two_le`. The query's terms look up last parts
    (`WeakPNT_character'` meets `weakpnt_character`), its dotted names their last two parts
    (`Phi_star.poles` meets the `poles` declared in namespace `Phi_star`, and is rarer than
    any `poles`)."""

    def __init__(self, definitions: Mapping[int, Iterable[str]], files: int) -> None:
        self._n = files
        found: dict[str, set[int]] = {}
        for i, names in definitions.items():
            for name in names:
                for key in name_keys(name):
                    found.setdefault(key, set()).add(i)
        self._files = {key: sorted(files) for key, files in found.items()}

    def scores(self, query: str) -> Array:
        scores = np.zeros(self._n, dtype=np.float64)
        for key in dict.fromkeys(query_terms(query) + dotted_keys(query)):
            files = self._files.get(key)
            if files:
                scores[files] += math.log(1.0 + self._n / len(files))
        return scores


class DescribedDefinitions:
    """Files defining something the question describes in words: "a number that keeps its
    string form and is parsed lazily" describes `LazilyParsedNumber`, whose name the question
    never writes. A definition whose name has two or more subword stems scores when the
    question has at least two of them: the idf-weighted share of its stems the question has,
    times the idf of those it has (so a name described whole outranks one half described, and
    rare words count more); a file takes its best definition. Idf is over the files defining
    a name with that stem. Where `FileSymbols` needs the name as written and `FileNames`
    looks at the file's name only, this reads every definition's name as words."""

    def __init__(self, definitions: Mapping[int, Iterable[str]], files: int) -> None:
        self._n = files
        named: set[tuple[int, frozenset[str]]] = set()
        for i, names in definitions.items():
            for name in names:
                last = name.rsplit(".", 1)[-1]
                whole = last.lower()
                stems = frozenset(stem(t) for t in tokenize(last) if t != whole)
                if len(stems) >= 2:
                    named.add((i, stems))
        ordered = sorted(named, key=lambda d: (d[0], sorted(d[1])))
        self._file = np.array([i for i, _ in ordered], dtype=np.int64)
        postings: dict[str, list[int]] = {}
        for d, (_, stems) in enumerate(ordered):
            for s in stems:
                postings.setdefault(s, []).append(d)
        self._postings = {s: np.array(ds, dtype=np.int64) for s, ds in postings.items()}
        self._idf = {
            s: math.log(1.0 + files / len(np.unique(self._file[ds])))
            for s, ds in self._postings.items()
        }
        self._total = np.array([sum(self._idf[s] for s in stems) for _, stems in ordered])

    def scores(self, query: str) -> Array:
        scores = np.zeros(self._n, dtype=np.float64)
        matched = np.zeros(len(self._file), dtype=np.float64)
        count = np.zeros(len(self._file), dtype=np.int64)
        for s in dict.fromkeys(map(stem, query_terms(query))):
            definitions = self._postings.get(s)
            if definitions is not None:
                matched[definitions] += self._idf[s]
                count[definitions] += 1
        hit = count >= 2
        if hit.any():
            np.maximum.at(scores, self._file[hit], matched[hit] ** 2 / self._total[hit])
        return scores


_DOTTED = re.compile(r"\w+(?:\.\w+)+")
_NAME_END = "'!?"


def name_keys(name: str) -> tuple[str, ...]:
    """The keys `FileSymbols` finds a declared name under (see there)."""
    parts = [p.rstrip(_NAME_END) for p in name.replace("«", "").replace("»", "").lower().split(".")]
    last = parts[-1]
    if not last:
        return ()
    return (last, f"{parts[-2]}.{last}") if len(parts) > 1 and parts[-2] else (last,)


def dotted_keys(query: str) -> list[str]:
    """The last two parts of each dotted name in the query, lowercased."""
    return [".".join(m.group().lower().split(".")[-2:]) for m in _DOTTED.finditer(query)]


def _base_name(path: str) -> str:
    return path.rsplit("/", 1)[-1].split(".", 1)[0]
