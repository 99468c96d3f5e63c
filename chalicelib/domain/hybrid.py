"""Hybrid ranking of a generation's files: fuse the per-file signals into one score.

Signals (one value per live file, higher is better):
- `lexical`: BM25 over the whole file (file_ranking.FileBM25);
- `history`: the best BM25 match among the messages of the commits that changed the file
  (history.py);
- `semantic`: the best cosine similarity of the file's chunks to the query's embedding;
- `symbol`: how strongly the file *defines* what the query names (definitions over mentions);
- `name`: the stems the file's name shares with the query (file_ranking.FileNames);
- `described`: how well the query describes, in words, a name the file defines
  (file_ranking.DescribedDefinitions: "a number ... parsed lazily" for `LazilyParsedNumber`).

Each signal is standardised (z-score: the scale of BM25 depends on the query's length and
of cosines on the model, a z-score on neither), weighted and summed; files whose role the
query did not ask for (tests, docs, examples, ... see path_roles.py) rank after every file of
code, and the code files are standardised among themselves, so a repository with thousands
of test inputs does not flatten the differences between its code files. Weights were tuned
on ../shared/eval with bench/retrieval_bench.py, which prints each signal's contribution (a
signal stays only if removing it costs MRR@10).

Two kinds of query meet different weights. A query that names code (an identifier with an
underscore, camelCase, a dotted name, backticks or a call: most commit messages) gets the
weights as given; a query in prose (a question, a description: "which class parses the
config file?") weighs the semantic signal `prose_semantic` times and the symbol signal
`prose_symbol` times, since its words match symbol names by accident. Tuned on the
descriptive set's tuning part and ../shared/eval (bench/weights_compare.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from chalicelib.domain.lexical import Array

SEMANTIC = "semantic"
DEMOTION = 1000.0  # larger than any spread of fused z-scores: demoted files rank last


@dataclass(frozen=True)
class Weights:
    lexical: float = 1.0
    history: float = 1.0
    semantic: float = 1.0
    symbol: float = 0.5
    name: float = 0.35
    described: float = 0.25
    demote: bool = True
    prose_semantic: float = 2.0
    prose_symbol: float = 0.25

    def of(self, signal: str) -> float:
        value = getattr(self, signal, 0.0) if signal in _SIGNALS else 0.0
        return float(value) if isinstance(value, int | float) else 0.0

    def for_query(self, query: str) -> Weights:
        """These weights for a query that names code, else their prose variant."""
        if names_code(query):
            return self
        semantic, symbol = self.semantic * self.prose_semantic, self.symbol * self.prose_symbol
        return replace(self, semantic=semantic, symbol=symbol)


_SIGNALS = frozenset(("lexical", "history", "semantic", "symbol", "name", "described"))
# snake_case, camelCase, a dotted name, `code`, a call: what prose does not write.
_CODE = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]|[a-z][A-Z]|[A-Za-z]\.[A-Za-z]|`|\w\(")


def names_code(query: str) -> bool:
    """Whether the query names an identifier (see the module docstring)."""
    return _CODE.search(query) is not None


DEFAULT_WEIGHTS = Weights()


def standardise(values: Array) -> Array:
    """(v - mean) / std over finite values; non-finite values become the minimum."""
    v = np.asarray(values, dtype=np.float64).copy()
    finite = np.isfinite(v)
    if not finite.any():
        return np.zeros_like(v)
    v[~finite] = v[finite].min()
    sd = float(v.std())
    out: Array = (v - v.mean()) / sd if sd > 0 else np.zeros_like(v)
    return out


@dataclass(frozen=True)
class Fused:
    scores: Array
    parts: Mapping[str, Array] = field(default_factory=dict)  # weighted z-scores per signal


def standardise_within(values: Array, group: Array) -> Array:
    """Standardise the files of `group` among themselves and the others among all files:
    the code files compete with each other, not with the (often many) tests around them."""
    out = standardise(values)
    if 1 < int(group.sum()) < len(values):
        out[group] = standardise(np.asarray(values, dtype=np.float64)[group])
    return out


def fuse(signals: Mapping[str, Array], demoted: Sequence[bool], weights: Weights) -> Fused:
    """Weighted sum of standardised signals, with demoted files moved after the others. A
    NaN means the file has no value for that signal (the semantic signal of a generation
    whose vectors are not published yet): it is standardised without them and adds 0."""
    n = len(demoted)
    down = np.asarray(demoted, dtype=bool) if weights.demote else np.zeros(n, dtype=bool)
    total = np.zeros(n, dtype=np.float64)
    parts: dict[str, Array] = {}
    for name, values in signals.items():
        w = weights.of(name)
        if w == 0.0:
            parts[name] = np.zeros(n, dtype=np.float64)  # weighs nothing for this query
            continue
        v = np.asarray(values, dtype=np.float64)
        known = ~np.isnan(v)
        part = np.zeros(n, dtype=np.float64)
        if known.any():
            part[known] = w * standardise_within(v[known], ~down[known])
        parts[name] = part
        total += part
    return Fused(total - DEMOTION * down, parts)


def join_signals(raw: Sequence[Mapping[str, Array]]) -> dict[str, Array]:
    """Several generations' file signals as one array per signal, their files in order.
    A signal only some have is dropped, except the semantic one: it is used where vectors
    exist (NaN for the files of a generation without them, see `fuse`)."""
    if not raw:
        return {}
    names = set.intersection(*(set(r) for r in raw))
    joined = {n: np.concatenate([r[n] for r in raw]) for n in names}
    if SEMANTIC not in names and any(SEMANTIC in r for r in raw):
        sizes = [len(next(iter(r.values()))) if r else 0 for r in raw]
        joined[SEMANTIC] = np.concatenate(
            [r.get(SEMANTIC, np.full(size, np.nan)) for r, size in zip(raw, sizes, strict=True)]
        )
    return joined


Coverage = Literal["complete", "partial", "none"]


def semantic_coverage(states: Sequence[str]) -> Coverage:
    """What a result says of its semantic signal, from each answering generation's state:
    "vectors" (used), "pending" (its vectors are being embedded) or "none" (not coming).
    complete: used for every file; none: used nowhere and nothing pending; else partial."""
    if states and all(s == "vectors" for s in states):
        return "complete"
    if any(s in ("vectors", "pending") for s in states):
        return "partial"
    return "none"


def ranked(scores: Array, k: int, tie_order: Array | None = None) -> list[int]:
    """Indices of the k best scores, best first; ties by `tie_order` (else index)."""
    if k <= 0 or not len(scores):
        return []
    ties = np.arange(len(scores)) if tie_order is None else tie_order
    order = np.lexsort((ties, -scores))
    return [int(i) for i in order[:k]]
