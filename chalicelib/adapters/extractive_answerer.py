"""ExtractiveAnswerer: answers without a model by quoting the best-matching lines.

No AWS resources. It picks, from the top passages, the lines sharing most terms with the
question, and cites the passages it quoted. It answers when no language model is configured
(`STRATA_ANSWERER=extractive`, the local stack's default) and replaces a model's reply that
cannot be read (services/answering.py, ADR 20).
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.tokens import query_terms, tokenize
from chalicelib.ports import Answer, Passage, Turn

_QUOTED_PASSAGES = 3
_LINES_PER_PASSAGE = 4


class ExtractiveAnswerer:
    def answer(self, question: str, passages: Sequence[Passage], history: Sequence[Turn]) -> Answer:
        terms = set(query_terms(question))
        ranked = sorted(range(len(passages)), key=lambda i: (-_overlap(passages[i].text, terms), i))
        chosen = [i for i in ranked if _overlap(passages[i].text, terms) > 0][:_QUOTED_PASSAGES]
        if not chosen:
            return Answer("I could not find code in this repository that matches the question.", ())
        parts = [f"The most relevant code for “{question.strip()}”:"]
        for i in chosen:
            p = passages[i]
            parts.append(f"\n{p.path} (lines {p.start_line}-{p.end_line}):")
            parts.extend(f"    {line}" for line in _best_lines(p.text, terms))
        return Answer("\n".join(parts), tuple(chosen))


def _overlap(text: str, terms: set[str]) -> int:
    return len(terms.intersection(tokenize(text)))


def _best_lines(text: str, terms: set[str]) -> list[str]:
    lines = text.splitlines()
    scored = sorted(
        range(len(lines)), key=lambda i: (-len(terms.intersection(tokenize(lines[i]))), i)
    )
    keep = sorted(scored[:_LINES_PER_PASSAGE])
    return [lines[i].rstrip() for i in keep if lines[i].strip()]
