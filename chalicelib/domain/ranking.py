"""Code-aware adjustments to lexical scores: a chunk that defines what the query names
outranks chunks that only mention it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache

from chalicelib.domain.graph import Node
from chalicelib.domain.lexical import Hit
from chalicelib.domain.tokens import query_terms, tokenize

EXACT_DEFINITION_BOOST = 2.0
PARTIAL_DEFINITION_BOOST = 1.5


@lru_cache(maxsize=1 << 14)
def _compact(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


@lru_cache(maxsize=1 << 14)
def _name_parts(name: str) -> frozenset[str]:
    return frozenset(tokenize(name))


def definition_boost(query: str, defined: Sequence[Node]) -> float:
    """How much to multiply a chunk's score by, given the symbols it defines."""
    terms = frozenset(query_terms(query))
    compact = _compact(query)
    best = 1.0
    for node in defined:
        name = node.name.rsplit(".", 1)[-1]
        if _compact(name) == compact:
            return EXACT_DEFINITION_BOOST
        parts = _name_parts(name)
        if parts and terms and (parts <= terms or terms <= parts):
            best = PARTIAL_DEFINITION_BOOST
    return best


def boost_definitions(
    query: str, hits: Sequence[Hit], symbols_by_path: Mapping[str, Sequence[Node]], k: int
) -> list[Hit]:
    """Re-rank hits with definition boosts; ties keep the lexical order."""
    boosted = []
    for order, hit in enumerate(hits):
        defined = [
            n
            for n in symbols_by_path.get(hit.path, ())
            if hit.start_line <= n.start_line <= hit.end_line
        ]
        score = hit.score * definition_boost(query, defined) if defined else hit.score
        boosted.append((score, order, replace(hit, score=score)))
    boosted.sort(key=lambda x: (-x[0], x[1]))
    return [h for _, _, h in boosted[:k]]
