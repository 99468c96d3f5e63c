"""The packed lexical segment: BM25 over chunks, plus the file texts that answers quote.

A segment is built once per generation from blob artifacts and stored as one immutable object.
Stored form (`to_bytes`): a zip archive (deflated, fixed timestamps, so equal segments give
equal bytes) holding JSON members and `.npy` arrays, never pickles:

    meta.json         {"format": FORMAT, "files": F, "chunks": C}
    files.json        {"paths": [...], "oids": [...], "languages": [...]}  (F each)
    vocab.json        the terms, sorted; a term's id is its position
    chunks.npy        int32 (C, 4): file, start_line, end_line, length (sum of term counts)
    term_offsets.npy  int64 (V + 1,): postings of term t are [offsets[t], offsets[t + 1])
    post_gaps.npy     int32: chunk ids, ascending within a term, each stored as the gap from
                      the previous id of the same term (the first one as is): gaps deflate well
    post_tf.npy       uint8/16/32 (the smallest that fits): the term's count in that chunk
    text_offsets.npy  int64 (F + 1,): file f's text is text[offsets[f]:offsets[f + 1]] (chars)
    text.txt          every file's text, concatenated, UTF-8

Scoring is Okapi BM25 (k1=1.2, b=0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))) over the
terms of `Chunk.terms`; the first chunk of every file also counts the terms of the file's path,
so file-name queries find the file (artifacts are shared across paths, so the path is added
here rather than by the parser). Lines are separated by "\\n" only, as in `parsers.text`.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from chalicelib.domain.models import Chunk
from chalicelib.domain.tokens import query_terms, term_counts, tokenize

FORMAT = "strata-lexical-1"
K1 = 1.2
B = 0.75
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ARRAYS = {
    "chunks": (np.int32,),
    "term_offsets": (np.int64,),
    "post_chunks": (np.int32,),
    "post_tf": (np.uint8, np.uint16, np.uint32),
    "text_offsets": (np.int64,),
}
# What reading malformed bytes can raise, from the zip, zlib, json and numpy layers.
# What malformed bytes make the zip, zlib, json and numpy readers raise. RuntimeError covers
# zipfile's NotImplementedError (unknown compression) and encrypted members.
_CORRUPT = (
    zipfile.BadZipFile, zlib.error, LookupError, ValueError, TypeError, OSError, EOFError,
    RuntimeError,
)  # fmt: skip

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class SegmentFile:
    """One file of the generation: where it is, its text and its parsed chunks."""

    path: str
    oid: str
    language: str
    text: str
    chunks: Sequence[Chunk]


@dataclass(frozen=True)
class Hit:
    """One ranked chunk; `chunk` is its index in the segment."""

    path: str
    start_line: int
    end_line: int
    score: float
    language: str
    chunk: int


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n") if text else []
    if text.endswith("\n"):
        lines.pop()
    return lines


def _chunk_terms(chunk: Chunk, path_terms: Mapping[str, int] | None) -> dict[str, int]:
    terms = {t: n for t, n in chunk.terms.items() if n > 0}
    for term, n in (path_terms or {}).items():
        terms[term] = terms.get(term, 0) + n
    return terms


def _postings(chunk_terms: list[dict[str, int]]) -> tuple[list[str], Array, Array, Array]:
    """Vocabulary and CSR postings (offsets, chunk ids, counts) of the chunks' term counts."""
    vocab = sorted({t for terms in chunk_terms for t in terms})
    term_id = {t: i for i, t in enumerate(vocab)}
    total = sum(len(terms) for terms in chunk_terms)
    tids = np.fromiter((term_id[t] for ts in chunk_terms for t in ts), np.int64, count=total)
    tfs = np.fromiter((n for ts in chunk_terms for n in ts.values()), np.int64, count=total)
    cids = np.repeat(np.arange(len(chunk_terms), dtype=np.int32), [len(t) for t in chunk_terms])
    order = np.argsort(tids, kind="stable")  # stable: chunk ids stay ascending per term
    offsets = np.zeros(len(vocab) + 1, np.int64)
    np.cumsum(np.bincount(tids, minlength=len(vocab)), out=offsets[1:])
    top = int(tfs.max()) if total else 0
    tf_type = next(t for t in (np.uint8, np.uint16, np.uint32) if top <= np.iinfo(t).max)
    return vocab, offsets, cids[order], tfs[order].astype(tf_type)


def _term_starts(offsets: Array, size: int) -> Array:
    """A mask of the postings that are the first of their term."""
    mask = np.zeros(size, dtype=bool)
    starts = offsets[:-1]
    mask[starts[starts < offsets[1:]]] = True
    return mask


def _to_gaps(post: Array, offsets: Array) -> Array:
    gaps: Array = np.diff(post, prepend=np.int32(0)).astype(np.int32)
    first = _term_starts(offsets, len(post))
    gaps[first] = post[first]
    return gaps


def _from_gaps(gaps: Array, offsets: Array) -> Array:
    # Checked before np.repeat so that forged offsets cannot make it allocate without bound.
    _check(gaps.dtype == np.int32 and gaps.ndim == 1 and offsets.dtype == np.int64, "postings")
    _check(offsets.ndim == 1 and len(offsets) > 0 and offsets[-1] == len(gaps), "term offsets")
    _check(bool(np.all(np.diff(offsets) >= 0)), "term offsets")
    total = np.cumsum(gaps, dtype=np.int64)
    before = np.concatenate(([0], total))[offsets[:-1]]
    post: Array = (total - np.repeat(before, np.diff(offsets))).astype(np.int32)
    return post


def _npy(array: Array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


class CorruptSegment(ValueError):
    """Stored bytes that are not a valid lexical segment."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise CorruptSegment(f"corrupt lexical segment: {what}")


def _str_list(value: object, what: str, length: int | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CorruptSegment(f"corrupt lexical segment: {what}")
    _check(length is None or len(value) == length, what)
    return value


class LexicalSegment:
    """An immutable BM25 index over the chunks of a set of files, with their texts."""

    def __init__(
        self,
        files: Mapping[str, list[str]],
        vocab: list[str],
        arrays: Mapping[str, Array],
        text: str,
    ) -> None:
        self._paths = files["paths"]
        self._oids = files["oids"]
        self._languages = files["languages"]
        self._file_index = {p: i for i, p in enumerate(self._paths)}
        _check(len(self._file_index) == len(self._paths), "duplicate paths")
        self._vocab = vocab
        self._term_id = {t: i for i, t in enumerate(vocab)}
        _check(len(self._term_id) == len(vocab), "duplicate terms")
        self._arrays = dict(arrays)
        self._text = text
        self._validate()
        self._chunks = self._arrays["chunks"]
        self._offsets = self._arrays["term_offsets"]
        self._post_chunks = self._arrays["post_chunks"]
        self._post_tf = self._arrays["post_tf"]
        self._text_offsets = self._arrays["text_offsets"]
        for array in self._arrays.values():
            array.setflags(write=False)  # shared with views (see lexical_view.py)
        lengths = self._chunks[:, 3].astype(np.float64)
        avgdl = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0
        self._norm = length_norms(lengths, avgdl)
        self._lines: dict[int, list[str]] = {}

    def _validate(self) -> None:
        a, files = self._arrays, len(self._paths)
        for name, dtypes in _ARRAYS.items():
            _check(name in a and a[name].dtype in dtypes, f"{name} type")
        chunks, offsets, post, tf, text = (
            a[n] for n in ("chunks", "term_offsets", "post_chunks", "post_tf", "text_offsets")
        )
        _check(chunks.ndim == 2 and chunks.shape[1] == 4, "chunk table shape")
        col = chunks.T
        _check(bool(np.all((col[0] >= 0) & (col[0] < files))), "chunk file ids")
        _check(bool(np.all((col[1] >= 1) & (col[2] >= col[1]) & (col[3] >= 0))), "chunk spans")
        _check(offsets.shape == (len(self._vocab) + 1,) and offsets[0] == 0, "term offsets")
        _check(bool(np.all(np.diff(offsets) >= 0)) and offsets[-1] == len(post), "term offsets")
        _check(post.ndim == 1 and tf.shape == post.shape, "postings shape")
        _check(bool(np.all((post >= 0) & (post < len(chunks)))), "posting chunk ids")
        ascending = np.diff(post) > 0
        _check(bool(np.all(ascending | _term_starts(offsets, len(post))[1:])), "posting order")
        _check(text.shape == (files + 1,) and text[0] == 0, "text offsets")
        _check(bool(np.all(np.diff(text) >= 0)) and text[-1] == len(self._text), "text offsets")

    @classmethod
    def build(cls, files: Iterable[SegmentFile]) -> LexicalSegment:
        """Index `files`; the first chunk of each also counts its path's terms."""
        paths: list[str] = []
        oids: list[str] = []
        languages: list[str] = []
        texts: list[str] = []
        rows: list[tuple[int, int, int, int]] = []
        chunk_terms: list[dict[str, int]] = []
        for f in files:
            path_terms = term_counts(f.path)
            for i, chunk in enumerate(f.chunks):
                terms = _chunk_terms(chunk, path_terms if i == 0 else None)
                chunk_terms.append(terms)
                rows.append((len(paths), chunk.start_line, chunk.end_line, sum(terms.values())))
            paths.append(f.path)
            oids.append(f.oid)
            languages.append(f.language)
            texts.append(f.text)
        if len(set(paths)) != len(paths):
            raise ValueError("segment files must have distinct paths")
        vocab, offsets, post_chunks, post_tf = _postings(chunk_terms)
        arrays = {
            "chunks": np.array(rows, dtype=np.int32).reshape(len(rows), 4),
            "term_offsets": offsets,
            "post_chunks": post_chunks,
            "post_tf": post_tf,
            "text_offsets": np.cumsum([0, *map(len, texts)], dtype=np.int64),
        }
        files_json = {"paths": paths, "oids": oids, "languages": languages}
        return cls(files_json, vocab, arrays, "".join(texts))

    def to_bytes(self) -> bytes:
        """The stored form (see the module docstring); equal segments give equal bytes."""
        meta = {"format": FORMAT, "files": self.num_files, "chunks": self.num_chunks}
        files = {"paths": self._paths, "oids": self._oids, "languages": self._languages}
        members: list[tuple[str, bytes]] = [
            ("meta.json", json.dumps(meta).encode()),
            ("files.json", json.dumps(files).encode()),
            ("vocab.json", json.dumps(self._vocab).encode()),
            *((f"{name}.npy", _npy(array)) for name, array in self._stored_arrays().items()),
            ("text.txt", self._text.encode("utf-8", "surrogatepass")),
        ]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, payload in members:
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, payload)
        return buf.getvalue()

    def _stored_arrays(self) -> dict[str, Array]:
        stored = {n: a for n, a in self._arrays.items() if n != "post_chunks"}
        stored["post_gaps"] = _to_gaps(self._post_chunks, self._offsets)
        return stored

    @classmethod
    def from_bytes(cls, data: bytes) -> LexicalSegment:
        """Load a stored segment; raises CorruptSegment (a ValueError) if `data` is not one."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return cls._read(zf)
        except CorruptSegment:
            raise
        except _CORRUPT as exc:
            raise CorruptSegment(f"corrupt lexical segment: {exc}") from exc

    @classmethod
    def _read(cls, zf: zipfile.ZipFile) -> LexicalSegment:
        meta = json.loads(zf.read("meta.json"))
        _check(isinstance(meta, dict) and meta.get("format") == FORMAT, "format")
        raw_files = json.loads(zf.read("files.json"))
        _check(isinstance(raw_files, dict), "files")
        paths = _str_list(raw_files.get("paths"), "paths")
        files = {k: _str_list(raw_files.get(k), k, len(paths)) for k in ("oids", "languages")}
        files["paths"] = paths
        vocab = _str_list(json.loads(zf.read("vocab.json")), "vocab")
        names = [n for n in _ARRAYS if n != "post_chunks"] + ["post_gaps"]
        arrays = {n: np.load(io.BytesIO(zf.read(f"{n}.npy")), allow_pickle=False) for n in names}
        _check(all(isinstance(a, np.ndarray) for a in arrays.values()), "arrays")
        arrays["post_chunks"] = _from_gaps(arrays.pop("post_gaps"), arrays["term_offsets"])
        text = zf.read("text.txt").decode("utf-8", "surrogatepass")
        return cls(files, vocab, arrays, text)

    @property
    def num_files(self) -> int:
        return len(self._paths)

    @property
    def num_chunks(self) -> int:
        return len(self._arrays["chunks"])

    @property
    def paths(self) -> Sequence[str]:
        return tuple(self._paths)

    @property
    def oids(self) -> Sequence[str]:
        """Each file's blob oid, in the order of `paths`."""
        return tuple(self._oids)

    @property
    def languages(self) -> Sequence[str]:
        """Each file's language, in the order of `paths`."""
        return tuple(self._languages)

    @property
    def chunk_table(self) -> Array:
        """The read-only (C, 4) int32 table: file index, start_line, end_line, length."""
        return self._chunks

    def term_postings(self, term: str) -> tuple[Array, Array]:
        """Read-only (chunk ids ascending, counts) of `term`; empty arrays if it is unknown."""
        t = self._term_id.get(term)
        lo, hi = (0, 0) if t is None else (self._offsets[t], self._offsets[t + 1])
        return self._post_chunks[lo:hi], self._post_tf[lo:hi]

    def _idf(self, term_id: int) -> float:
        df = int(self._offsets[term_id + 1] - self._offsets[term_id])
        return idf(self.num_chunks, df)

    def _query_ids(self, query: str) -> list[int]:
        return [self._term_id[t] for t in query_terms(query) if t in self._term_id]

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The k best chunks for `query` by BM25, best first; equal scores by chunk index."""
        term_ids = self._query_ids(query)
        if k <= 0 or not term_ids:
            return []
        scores = np.zeros(self.num_chunks, dtype=np.float64)
        for t in term_ids:
            lo, hi = self._offsets[t], self._offsets[t + 1]
            ids = self._post_chunks[lo:hi]
            tf = self._post_tf[lo:hi].astype(np.float64)
            # A term has one posting per chunk, so plain fancy-index addition is exact.
            scores[ids] += term_scores(self._idf(t), tf, self._norm[ids])
        return [self._hit(int(c), float(scores[c])) for c in top_k(scores, k)]

    def _hit(self, chunk: int, score: float) -> Hit:
        f, start, end, _ = (int(v) for v in self._chunks[chunk])
        return Hit(self._paths[f], start, end, score, self._languages[f], chunk)

    def file_lines(self, path: str) -> list[str] | None:
        """The file's lines (cached; do not modify), or None if the path is unknown."""
        f = self._file_index.get(path)
        if f is None:
            return None
        if f not in self._lines:
            self._lines[f] = _split_lines(self.file_text(path) or "")
        return self._lines[f]

    def snippet(self, hit: Hit, query: str, max_lines: int = 8) -> str:
        """At most `max_lines` lines of the hit's span, centred on its best-matching line."""
        weights = {self._vocab[t]: self._idf(t) for t in self._query_ids(query)}
        return best_window(self.file_lines(hit.path), hit, weights, max_lines)

    def lines(self, path: str, start: int, end: int) -> str | None:
        """Lines start..end (1-based, inclusive) joined by "\\n"; None if unknown/out of range."""
        lines = self.file_lines(path)
        if lines is None or not 1 <= start <= end <= len(lines):
            return None
        return "\n".join(lines[start - 1 : end])

    def file_text(self, path: str) -> str | None:
        f = self._file_index.get(path)
        if f is None:
            return None
        return self._text[int(self._text_offsets[f]) : int(self._text_offsets[f + 1])]

    def file_oid(self, path: str) -> str | None:
        f = self._file_index.get(path)
        return None if f is None else self._oids[f]


def idf(num_chunks: int, df: int) -> float:
    """BM25's idf of a term found in `df` of `num_chunks` chunks."""
    return math.log(1.0 + (num_chunks - df + 0.5) / (df + 0.5))


def length_norms(lengths: Array, avgdl: float) -> Array:
    """BM25's per-chunk length normalisation, k1 * (1 - b + b * length / avgdl)."""
    norms: Array = K1 * (1.0 - B + B * lengths / avgdl)
    return norms


def term_scores(term_idf: float, tf: Array, norms: Array) -> Array:
    """One term's BM25 contribution to chunks with counts `tf` and normalisations `norms`."""
    scores: Array = term_idf * tf * (K1 + 1.0) / (tf + norms)
    return scores


def best_window(
    lines: Sequence[str] | None, hit: Hit, weights: Mapping[str, float], max_lines: int
) -> str:
    """At most `max_lines` lines of the hit's span, centred on the line whose distinct terms
    weigh most (`weights`: term -> idf of the query's known terms)."""
    span = (lines or [])[max(hit.start_line - 1, 0) : hit.end_line]
    if max_lines <= 0 or not span:
        return ""
    line_scores = _line_scores(span, weights)
    best = max(range(len(span)), key=lambda i: (line_scores[i], -i))
    first = min(max(best - (max_lines - 1) // 2, 0), max(len(span) - max_lines, 0))
    return "\n".join(span[first : first + max_lines])


def _line_scores(lines: Sequence[str], weights: Mapping[str, float]) -> list[float]:
    """Each line's summed weights of its distinct terms. Every term of a line is a substring
    of the lowercased line, so a line containing no weighted term is not tokenized."""
    if not weights:
        return [0.0] * len(lines)
    present = _any_of(tuple(weights)).search
    return [
        sum(w for t, w in weights.items() if t in _line_terms(line))
        if present(line.lower())
        else 0.0
        for line in lines
    ]


@lru_cache(maxsize=1 << 16)  # a warm reader meets the same lines in query after query
def _line_terms(line: str) -> frozenset[str]:
    return frozenset(tokenize(line))


@lru_cache(maxsize=256)  # one search asks for one query's pattern once per hit
def _any_of(terms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in terms))


def top_k(scores: Array, k: int, ranks: Array | None = None) -> Array:
    """Indices of the k highest positive scores, by score descending then by `ranks[index]`
    (by index itself when `ranks` is None) ascending."""
    candidates = np.flatnonzero(scores > 0)
    if len(candidates) > k:
        values = scores[candidates]
        kth = np.partition(values, len(values) - k)[len(values) - k]
        candidates = candidates[values >= kth]  # keeps every tie at the boundary
    ties = candidates if ranks is None else ranks[candidates]
    order = np.lexsort((ties, -scores[candidates]))
    best: Array = candidates[order[:k]]
    return best
