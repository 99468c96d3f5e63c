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
- No stemming in the index. `stem` (a light suffix stripper) is for signals that compare a
  question's words with names (`file_ranking.FileNames`), where "parses" must meet `parse`.
  A small English stopword list is applied by `query_terms` only, and only when
  the query keeps at least one other term (so a query for `if` still works). The index keeps
  stopwords, so every query term is a term the index analysis can produce.

Speed: ASCII text (most code) is cut into words by byte translation and `bytes.split`, other
text by one compiled regex; the terms of each distinct word are cached in a dict, so the
per-occurrence work is a dictionary lookup, and occurrences are counted by `Counter` in C
(see bench/lexical_microbench.py and bench/parse_bench.py).
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
# The same on ASCII bytes, where `_LOWER` is [a-z].
_ASCII_SUBWORD = re.compile(rb"[A-Z]+\d*(?=[A-Z][a-z])|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+")

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


def _analyze(word: str) -> tuple[str, ...]:
    """Terms of one word: the whole word, then its subwords, all lowercase."""
    whole = word.lower()
    terms = [whole] if len(whole) <= MAX_TERM_LENGTH and whole.strip("_") else []
    parts = list(map(str.lower, _SUBWORD.findall(word)))
    if parts != [whole]:
        terms += [p for p in parts if 1 < len(p) <= MAX_TERM_LENGTH]
    return tuple(terms)


def _analyze_ascii(word: bytes) -> tuple[str, ...]:
    """`_analyze` of an ASCII word (none for one character). A word of letters and
    underscores whose letters are all in one case, or Capitalized, has the parts between
    its underscores as subwords: the shortcut skips the subword regex for most words."""
    if len(word) < 2:
        return ()
    letters = word.replace(b"_", b"")
    one_case = letters.isalpha() and (word.islower() or word.isupper() or word[1:].islower())
    if one_case and len(letters) == len(word):
        return (word.lower().decode("ascii"),) if len(word) <= MAX_TERM_LENGTH else ()
    whole = word.lower().decode("ascii")
    terms = [whole] if len(whole) <= MAX_TERM_LENGTH and whole.strip("_") else []
    if one_case:
        parts = whole.split("_")
    else:  # the subwords, lowercased and decoded in one go
        parts = b" ".join(_ASCII_SUBWORD.findall(word)).lower().decode("ascii").split()
        if parts == [whole]:
            return tuple(terms)
    terms += [p for p in parts if 1 < len(p) <= MAX_TERM_LENGTH]
    return tuple(terms)


# On ASCII text `\w` is [A-Za-z0-9_]: every other byte becomes a space, so `bytes.split` yields
# the runs of word characters (runs of one character have no terms, see `_WordCache`).
_ASCII_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_SEPARATORS = bytes(b if b in _ASCII_WORD_BYTES else 32 for b in range(256))
_CACHE_SIZE = 1 << 17


class _WordCache(dict[str | bytes, tuple[str, ...]]):
    """The terms of each word seen, by the word (`str`, or ASCII `bytes` from `_words`);
    emptied when full, which only costs recomputing."""

    def __missing__(self, word: str | bytes) -> tuple[str, ...]:
        if len(self) >= _CACHE_SIZE:
            self.clear()
        terms = _analyze_ascii(word) if isinstance(word, bytes) else _analyze(word)
        self[word] = terms
        return terms

    def __call__(self, word: str) -> tuple[str, ...]:
        return self[word]

    def cache_clear(self) -> None:
        self.clear()


_analyze_word = _WordCache()  # callable, with cache_clear() (benchmarks start cold)


def _words(text: str) -> list[str] | list[bytes]:
    """The words of `text` in order (as ASCII bytes when the text is ASCII), plus, on the
    ASCII path, runs of one word character, which `_analyze_word` maps to no terms."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_SEPARATORS).split()
    return _WORD.findall(text)


def tokenize(text: str) -> list[str]:
    """Every term occurrence in `text`, in order (see the module docstring for the rules)."""
    return list(chain.from_iterable(map(_analyze_word.__getitem__, _words(text))))


def term_counts(text: str) -> dict[str, int]:
    """How often each term occurs in `text`; equal to counting `tokenize(text)`, keys in order
    of first occurrence."""
    return dict(Counter(chain.from_iterable(map(_analyze_word.__getitem__, _words(text)))))


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, in order, without English stopwords if others remain."""
    return list(_query_terms(text))


@lru_cache(maxsize=1024)  # one search asks for the same query's terms once per hit
def _query_terms(text: str) -> tuple[str, ...]:
    terms = list(dict.fromkeys(tokenize(text)))
    content = [t for t in terms if t not in STOPWORDS]
    return tuple(content or terms)


# Inflection suffixes `stem` strips (one per word), longest first, with what replaces them.
_SUFFIXES = (("ies", "i"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "e"), ("s", ""))


def stem(term: str) -> str:
    """A light stem of a lowercase term, so inflections of one word meet: parse, parses,
    parsed, parsing -> pars; retry, retries -> retri; cookie, cookies -> cooki. One suffix
    at most, never leaving fewer than three letters; no derivations (parser stays)."""
    for suffix, replacement in _SUFFIXES:
        if term.endswith(suffix):
            if suffix == "s" and term.endswith(("ss", "us", "is")):
                break
            cut = term[: -len(suffix)] + replacement
            if len(cut) >= 3:
                term = cut
            break
    if len(term) > 3 and term[-1] in "ye":
        term = term[:-1] + ("i" if term[-1] == "y" else "")
    return term
