"""Code-aware analysis: how identifiers split, and that queries and the index agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.tokens import MAX_TERM_LENGTH, query_terms, term_counts, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("parseConfig", ["parseconfig", "parse", "config"]),
        ("ParseConfig", ["parseconfig", "parse", "config"]),
        ("HTTPServerError", ["httpservererror", "http", "server", "error"]),
        ("IOError", ["ioerror", "io", "error"]),
        ("getHTTPResponse", ["gethttpresponse", "get", "http", "response"]),
        ("parse_config", ["parse_config", "parse", "config"]),
        ("MAX_RETRY_COUNT", ["max_retry_count", "max", "retry", "count"]),
        ("parse_v2_header", ["parse_v2_header", "parse", "v2", "header"]),
        ("HTTP2Server", ["http2server", "http2", "server"]),
        ("base64encode", ["base64encode", "base64", "encode"]),
        ("sha256", ["sha256"]),
        ("__init__", ["__init__", "init"]),
        ("café_name", ["café_name", "café", "name"]),
    ],
)
def test_splits_identifiers_and_keeps_them_whole(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_splits_dotted_names_into_their_parts_only() -> None:
    assert tokenize("os.path.join") == ["os", "path", "join"]


def test_splits_kebab_case_into_its_parts_only() -> None:
    assert tokenize("max-width: 10px") == ["max", "width", "10px", "10", "px"]


def test_drops_punctuation_and_one_character_terms() -> None:
    assert tokenize("x = a[0] + (b * 2) -> __ ; {}") == []


def test_drops_terms_longer_than_the_limit_but_keeps_their_parts() -> None:
    long_word = "a" * (MAX_TERM_LENGTH + 1)
    assert tokenize(long_word) == []
    assert tokenize(f"x_{long_word}_config") == ["config"]


def test_lowercases_every_term() -> None:
    assert all(t == t.lower() for t in tokenize("class HTTPServer(BaseHTTPRequestHandler): ..."))


def test_term_counts_counts_every_occurrence() -> None:
    counts = term_counts("def parse_config(config):\n    return parse(config)\n")
    assert counts == {
        "def": 1,
        "parse_config": 1,
        "parse": 2,
        "config": 3,
        "return": 1,
    }


@settings(database=None)  # no example database: unit tests stay off the disk
@given(st.text(alphabet=st.sampled_from("aZ_09.- \nΩé"), max_size=200))
def test_term_counts_equals_counting_tokenize(text: str) -> None:
    counts: dict[str, int] = {}
    for term in tokenize(text):
        counts[term] = counts.get(term, 0) + 1
    assert term_counts(text) == counts


def test_query_terms_are_deduplicated_in_order() -> None:
    assert query_terms("config parseConfig Config") == ["config", "parseconfig", "parse"]


def test_query_terms_drop_english_stopwords() -> None:
    assert query_terms("where is the config parsed?") == ["config", "parsed"]


def test_query_of_only_stopwords_keeps_them() -> None:
    assert query_terms("for in") == ["for", "in"]


@pytest.mark.parametrize("text", ["parseConfig", "os.path.join", "HTTP2Server v2", "x_y_zz"])
def test_query_analysis_matches_index_analysis_for_code(text: str) -> None:
    assert query_terms(text) == list(dict.fromkeys(tokenize(text)))


@settings(database=None)  # no example database: unit tests stay off the disk
@given(st.text(max_size=100))
def test_every_query_term_is_an_index_term(text: str) -> None:
    assert set(query_terms(text)) <= set(term_counts(text))


# ASCII text is cut into words by byte translation, other text by a regex: "→" (not a word
# character, not ASCII) sends the same words down the regex path, so both must agree.
@settings(database=None)  # no example database: unit tests stay off the disk
@given(st.text(alphabet=st.sampled_from("aAbBzZ_09 .-\n\t\r\x0b\x0c\x1c\x1f"), max_size=300))
def test_ascii_text_has_the_terms_the_regex_path_finds(text: str) -> None:
    assert tokenize(text) == tokenize(text + "→")
    assert list(term_counts(text).items()) == list(term_counts(text + "→").items())


@pytest.mark.parametrize(
    "word", ["ab", "Ab", "AB", "aB", "x" * MAX_TERM_LENGTH, "X" * 65, "Ab" * 40, "a_b", "a1"]
)
def test_ascii_words_split_as_other_words_do(word: str) -> None:
    assert tokenize(word) == tokenize(f"{word}→")
    assert tokenize(f"é {word}") == tokenize(word)


def test_term_counts_keep_terms_in_order_of_first_occurrence() -> None:
    counts = term_counts("Config parse_config configure PARSE")
    assert list(counts) == ["config", "parse_config", "parse", "configure"]


def test_stem_meets_the_inflections_of_one_word() -> None:
    from chalicelib.domain.tokens import stem

    assert {stem(w) for w in ("parse", "parses", "parsed", "parsing")} == {"pars"}
    assert stem("retries") == stem("retry") == "retri"
    assert stem("cookies") == stem("cookie") == "cooki"
    assert stem("redirects") == stem("redirect") == "redirect"
    assert stem("class") == "class" and stem("status") == "status"  # not plurals
    assert stem("uses") == "use" and stem("is") == "is"  # never under three letters
    assert stem("parser") == "parser"  # a derivation is another word
