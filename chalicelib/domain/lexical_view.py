"""A lexical segment seen through later edits: a shared BASE, a DELTA, and TOMBSTONES.

An incremental generation stores the BASE segment of an earlier generation unchanged, a DELTA
segment (`LexicalSegment.build` over just the files added or changed since that base) and
TOMBSTONES (the base paths changed or deleted since). `LexicalView` answers queries over the
live files exactly as `LexicalSegment.build` over the live files sorted by path would:

- Statistics are those of the live set: N = live base chunks + delta chunks, avgdl over their
  lengths, df(t) = base df(t) - tombstoned base chunks holding t + delta df(t). Lengths are
  integers, so their float64 sum is exact in any order and avgdl equals the rebuild's mean.
- Every live chunk's score is the rebuild's, bit for bit: the same helpers of `lexical.py`
  (`idf`, `length_norms`, `term_scores`) on the same operands, added in the same query-term
  order. A tombstoned chunk's norm is +inf, so its contributions are 0.0 and it never scores.
- Ties go by (path, position in file), the chunk order of a rebuild over files sorted by path.
  `Hit.chunk` is that rebuild's chunk index (the view index), not an index into base or delta.
- Path terms: the delta is built by `LexicalSegment.build`, which adds each file's path terms
  to its first chunk, as the rebuild does.

A delta path shadows the base path (whether or not it is tombstoned); a tombstone without a
delta entry is a deleted file; tombstones not in the base are ignored (a file added after the
base and deleted again).

Cost per query: the base's postings as before, plus one gather over the tombstone mask per
query term (for its tombstoned df), plus the delta's postings. Opening a view costs O(chunks)
(mask, norms, tie ranks), once per generation.

Compaction (bench/delta_bench.py, moto's 1,458 .py files, 18k chunks): view query p50 is
1.17-1.35x a rebuilt segment's from 0.3 % to 25 % delta chunks, mostly a fixed per-term cost
(a second vocabulary lookup, the tombstone gather), so queries do not force compaction. Writes
do: a cumulative delta costs about 0.8 x (delta chunks / base chunks) of a full rebuild's build
+ serialise time, and as much of its bytes, every generation. With d of the base changing per
generation, compacting at T averages d / T + 0.4 T rebuilds per generation, least at
T = sqrt(2.5 d): 8-16 % for d = 0.25-1 %. Compact when delta chunks exceed 10 % of the base's
chunks: within 10 % of the optimum over that range, ~10x cheaper writes than rebuilding every
generation, queries ~1.3x.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

import numpy as np

from chalicelib.domain.lexical import (
    Array,
    Hit,
    LexicalSegment,
    best_window,
    idf,
    length_norms,
    term_scores,
    top_k,
)
from chalicelib.domain.tokens import query_terms

_EMPTY = LexicalSegment.build(())


class LexicalView:
    """The live files of `base` minus `tombstones`, shadowed and extended by `delta`, with
    `LexicalSegment`'s query interface and a full rebuild's exact results."""

    def __init__(
        self, base: LexicalSegment, delta: LexicalSegment | None, tombstones: Set[str]
    ) -> None:
        self._base = base
        self._delta = _EMPTY if delta is None else delta
        delta_paths = self._delta.paths
        shadowed = set(delta_paths)
        live = [p not in tombstones and p not in shadowed for p in base.paths]
        self._owners = {p: base for p, ok in zip(base.paths, live, strict=True) if ok}
        self._owners.update((p, self._delta) for p in delta_paths)
        self._paths = tuple(sorted(self._owners))
        dead_files = ~np.array(live, dtype=bool)
        base_table, delta_table = base.chunk_table, self._delta.chunk_table
        self._dead: Array = dead_files[base_table[:, 0]]
        self._any_dead = bool(self._dead.any())
        self._split = len(base_table)
        self._num_chunks = self._split - int(np.count_nonzero(self._dead)) + len(delta_table)
        self._norms = self._live_norms(np.concatenate((base_table[:, 3], delta_table[:, 3])))
        self._ranks = self._tie_ranks()
        self._file_paths = (*base.paths, *delta_paths)
        self._file_languages = (*base.languages, *self._delta.languages)
        files = np.concatenate((base_table[:, 0], delta_table[:, 0] + base.num_files))
        spans = np.concatenate((base_table[:, 1:3], delta_table[:, 1:3]))
        # What a hit needs, per chunk: file (into _file_paths), start, end, rebuild index.
        self._rows = np.column_stack((files, spans, self._ranks)).astype(np.int64)

    def _live_norms(self, lengths: Array) -> Array:
        live = np.ones(len(lengths), dtype=bool)
        live[: self._split] = ~self._dead
        total = int(lengths[live].sum(dtype=np.int64))
        # Equal to the rebuild's float64 mean: an exact integer sum over the same count.
        avgdl = total / self._num_chunks if total > 0 else 1.0
        norms = length_norms(lengths.astype(np.float64), avgdl)
        norms[: self._split][self._dead] = np.inf  # tombstoned chunks score 0.0
        return norms

    def _tie_ranks(self) -> Array:
        """Each chunk's index in a rebuild over the live files sorted by path (dead: < 0)."""
        rank = {p: i for i, p in enumerate(self._paths)}
        file_rank = np.concatenate(
            [
                np.array(
                    [rank[p] if self._owners.get(p) is part else -1 for p in part.paths], np.int64
                )[part.chunk_table[:, 0]]
                for part in (self._base, self._delta)
            ]
        )
        # Stable: within a file, chunks keep their order in the segment, i.e. in the file.
        order = np.argsort(file_rank, kind="stable")
        ranks = np.empty(len(order), dtype=np.int64)
        ranks[order] = np.arange(len(order)) - (len(order) - self._num_chunks)
        return ranks

    @property
    def num_files(self) -> int:
        return len(self._paths)

    @property
    def num_chunks(self) -> int:
        return self._num_chunks

    @property
    def paths(self) -> Sequence[str]:
        """The live paths, sorted."""
        return self._paths

    def _postings(self, term: str) -> tuple[int, list[tuple[Array, Array]]]:
        """The term's live df, and its nonempty (chunk ids, counts) in base, then delta, with
        ids in view storage order (base chunks, then delta chunks)."""
        base_ids, base_tf = self._base.term_postings(term)
        delta_ids, delta_tf = self._delta.term_postings(term)
        df = len(base_ids) + len(delta_ids)
        parts = []
        if len(base_ids):
            parts.append((base_ids, base_tf))
            if self._any_dead:
                df -= int(np.count_nonzero(self._dead[base_ids]))
        if len(delta_ids):
            parts.append((delta_ids + self._split, delta_tf))
        return df, parts

    def _idf(self, df: int) -> float:
        return idf(self._num_chunks, df)

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The k best live chunks for `query` by BM25, best first; equal scores by path, then
        position in the file. Equal to a rebuild's `search`, `Hit.chunk` included."""
        if k <= 0:
            return []
        scores: Array | None = None
        for term in query_terms(query):
            df, parts = self._postings(term)
            if df == 0:
                continue  # unknown to the rebuild: it would skip the term
            if scores is None:
                scores = np.zeros(len(self._norms), dtype=np.float64)
            w = self._idf(df)
            for ids, tf in parts:
                scores[ids] += term_scores(w, tf.astype(np.float64), self._norms[ids])
        if scores is None:
            return []
        return [self._hit(int(c), float(scores[c])) for c in top_k(scores, k, self._ranks)]

    def _hit(self, chunk: int, score: float) -> Hit:
        f, start, end, rank = self._rows[chunk].tolist()
        return Hit(self._file_paths[f], start, end, score, self._file_languages[f], rank)

    def snippet(self, hit: Hit, query: str, max_lines: int = 8) -> str:
        """At most `max_lines` lines of the hit's span, centred on its best-matching line."""
        owner = self._owners.get(hit.path)
        lines = None if owner is None else owner.file_lines(hit.path)
        weights = {}
        for term in query_terms(query):
            df, _ = self._postings(term)
            if df > 0:
                weights[term] = self._idf(df)
        return best_window(lines, hit, weights, max_lines)

    def lines(self, path: str, start: int, end: int) -> str | None:
        """Lines start..end (1-based, inclusive) of the live file; None if unknown/out of range."""
        owner = self._owners.get(path)
        return None if owner is None else owner.lines(path, start, end)

    def file_text(self, path: str) -> str | None:
        owner = self._owners.get(path)
        return None if owner is None else owner.file_text(path)

    def file_oid(self, path: str) -> str | None:
        owner = self._owners.get(path)
        return None if owner is None else owner.file_oid(path)

    def compacted(self) -> LexicalSegment:
        """See `compact`."""
        parts = (
            (self._base, self._ranks[: self._split]),
            (self._delta, self._ranks[self._split :]),
        )
        vocabs = [_csr(part)[0] for part, _ in parts]
        union = sorted(set(vocabs[0]).union(vocabs[1]))
        term_id = {t: i for i, t in enumerate(union)}
        file_rank = {p: i for i, p in enumerate(self._paths)}
        terms, chunks, counts, tables = [], [], [], []
        for part, ranks in parts:
            vocab, offsets, post, tf = _csr(part)
            ids = np.array([term_id[t] for t in vocab], dtype=np.int64)
            per_posting = np.repeat(ids, np.diff(offsets))
            rank = ranks[post]
            keep = rank >= 0
            terms.append(per_posting[keep])
            chunks.append(rank[keep])
            counts.append(tf[keep].astype(np.int64))
            table = part.chunk_table.astype(np.int64)
            owned = [file_rank[p] if self._owners.get(p) is part else -1 for p in part.paths]
            table[:, 0] = np.array(owned, np.int64)[table[:, 0]]
            tables.append(table)
        return self._assemble(
            union, np.concatenate(terms), np.concatenate(chunks), np.concatenate(counts), tables
        )

    def _assemble(
        self, union: list[str], terms: Array, chunks: Array, counts: Array, tables: list[Array]
    ) -> LexicalSegment:
        order = np.lexsort((chunks, terms))  # by term, then chunk id ascending
        used, compact_ids = np.unique(terms, return_inverse=True)
        offsets = np.zeros(len(used) + 1, np.int64)
        np.cumsum(np.bincount(compact_ids, minlength=len(used)), out=offsets[1:])
        top = int(counts.max()) if len(counts) else 0
        tf_type = next(t for t in (np.uint8, np.uint16, np.uint32) if top <= np.iinfo(t).max)
        table = np.concatenate(tables)
        live = self._ranks >= 0
        rows = np.empty((self._num_chunks, 4), dtype=np.int32)
        rows[self._ranks[live]] = table[live]
        texts = [self._owners[p].file_text(p) or "" for p in self._paths]
        languages = dict(zip(self._file_paths, self._file_languages, strict=True))
        files = {
            "paths": list(self._paths),
            "oids": [self._owners[p].file_oid(p) or "" for p in self._paths],
            "languages": [languages[p] for p in self._paths],  # a delta path's is the delta's
        }
        arrays = {
            "chunks": rows,
            "term_offsets": offsets,
            "post_chunks": chunks[order].astype(np.int32),
            "post_tf": counts[order].astype(tf_type),
            "text_offsets": np.cumsum([0, *map(len, texts)], dtype=np.int64),
        }
        return LexicalSegment(files, [union[i] for i in used], arrays, "".join(texts))


def _csr(segment: LexicalSegment) -> tuple[list[str], Array, Array, Array]:
    """The segment's vocabulary and postings (term offsets, chunk ids, counts), read-only.

    `LexicalSegment` has no public accessor for its whole postings, which compaction needs;
    its arrays are immutable (write flag off), so reading them here is safe."""
    return (
        segment._vocab,
        segment._offsets,
        segment._post_chunks,
        segment._post_tf,
    )


def compact(
    base: LexicalSegment, delta: LexicalSegment | None, tombstones: Set[str]
) -> LexicalSegment:
    """One segment of the view's live files, equal (byte for byte once stored) to
    `LexicalSegment.build` over those files sorted by path, made without their artifacts:
    chunks, lengths, postings (path terms included) and texts are copied from base and delta,
    each chunk renumbered to its rank in that rebuild (`LexicalView`'s tie ranks)."""
    return LexicalView(base, delta, tombstones).compacted()
