"""Code-aware text analysis: the one tokenizer both the index and the queries go through.

Decisions (the index and query sides must agree, so they live in one place):

- A *word* is a run of word characters (`\\w`: letters, digits, underscore, any script).
  Everything else separates words, so dotted names (`os.path.join`) and kebab-case
  (`max-width`) are indexed as their parts only; the dotted or hyphenated whole is not kept.
  Matching the parts with BM25 finds them, and keeping every `self.x` would bloat the vocabulary.
- Each word is kept whole (lowercased) and also split into subwords on underscores and on
  case changes, with acronyms kept together: `HTTPServerError` -> httpservererror, http,
  server, error; `parse_config` -> parse_config, parse, config.
- Digits stick to the letters before them and break after: `parse_v2_header` -> v2,
  `sha256` stays one term, `base64encode` -> base64, encode, `HTTP2Server` -> http2, server.
- Terms of one character, terms made only of underscores, and terms longer than
  `MAX_TERM_LENGTH` (hashes, base64 blobs) are dropped.
- No stemming. A small English stopword list is applied by `query_terms` only, and only when
  the query keeps at least one other term (so a query for `if` still works). The index keeps
  stopwords, so every query term is a term the index analysis can produce.

Speed: words are found with one compiled regex, and the split of each distinct word is cached,
so the per-occurrence work is a dictionary lookup (see bench/lexical_microbench.py).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from itertools import chain

MAX_TERM_LENGTH = 64

_WORD = re.compile(r"\w{2,}")
# Lowercase letters here are "any letter that is not ASCII A-Z", so non-ASCII words split only
# on underscores and ASCII case changes.
_LOWER = r"[^\W\dA-Z_]"
_SUBWORD = re.compile(rf"[A-Z]+\d*(?=[A-Z]{_LOWER})|[A-Z]?{_LOWER}+\d*|[A-Z]+\d*|\d+")

STOPWORDS = frozenset(
    (
        "an", "the", "of", "to", "is", "are", "was", "were", "be", "been", "being", "am", "how",
        "what", "where", "which", "who", "whom", "why", "does", "did", "this", "that", "these",
        "those", "it", "its", "me", "my", "we", "our", "you", "your", "he", "she", "they", "them",
        "their", "can", "could", "should", "would", "there", "here", "about", "into", "onto",
        "on", "at", "by", "and", "or", "in", "for", "with", "from", "than", "so", "also",
        "please",
    )
)  # fmt: skip


@lru_cache(maxsize=1 << 17)
def _analyze_word(word: str) -> tuple[str, ...]:
    """Terms of one word: the whole word, then its subwords, all lowercase."""
    whole = word.lower()
    terms: list[str] = []
    if len(whole) <= MAX_TERM_LENGTH and whole.strip("_"):
        terms.append(whole)
    parts = [p.lower() for p in _SUBWORD.findall(word)]
    if len(parts) == 1 and parts[0] == whole:
        return tuple(terms)
    terms.extend(p for p in parts if 1 < len(p) <= MAX_TERM_LENGTH)
    return tuple(terms)


def tokenize(text: str) -> list[str]:
    """Every term occurrence in `text`, in order (see the module docstring for the rules)."""
    return list(chain.from_iterable(map(_analyze_word, _WORD.findall(text))))


def term_counts(text: str) -> dict[str, int]:
    """How often each term occurs in `text`; equal to counting `tokenize(text)`."""
    counts: dict[str, int] = {}
    for word, n in Counter(_WORD.findall(text)).items():
        for term in _analyze_word(word):
            counts[term] = counts.get(term, 0) + n
    return counts


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, in order, without English stopwords if others remain."""
    terms = list(dict.fromkeys(tokenize(text)))
    content = [t for t in terms if t not in STOPWORDS]
    return content or terms
