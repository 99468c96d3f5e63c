"""Ranking symbol names against what a user typed: exact, prefix, substring, then fuzzy
(the letters in order, fewer gaps first). Case-insensitive; ties go to shorter names."""

from __future__ import annotations


def match_score(query: str, name: str, qualified: str) -> float:
    q, n, qn = query.lower(), name.lower(), qualified.lower()
    if not q:
        return 1.0
    for score, hit in (
        (100.0, n == q),
        (95.0, qn == q),
        (80.0, n.startswith(q)),
        (70.0, qn.startswith(q)),
        (50.0, q in n),
        (40.0, q in qn),
    ):
        if hit:
            return score
    gaps = _subsequence_gaps(q, n)
    return max(0.0, 30.0 - gaps) if gaps is not None and gaps < 30 else 0.0


def _subsequence_gaps(q: str, text: str) -> int | None:
    """How many characters of `text` lie between the matched letters of `q`, or None."""
    pos, gaps, start = 0, 0, -1
    for ch in q:
        found = text.find(ch, pos)
        if found < 0:
            return None
        if start >= 0:
            gaps += found - pos
        start = found if start < 0 else start
        pos = found + 1
    return gaps
