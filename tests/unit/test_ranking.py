"""Definition boosts: the chunk that defines what the query names comes first."""

from __future__ import annotations

from chalicelib.domain.graph import Node
from chalicelib.domain.lexical import Hit
from chalicelib.domain.ranking import (
    EXACT_DEFINITION_BOOST,
    boost_definitions,
    definition_boost,
)


def node(name: str, path: str, line: int) -> Node:
    return Node(0, name, "function", path, line, line + 3)


def test_exact_definition_outranks_more_frequent_mentions() -> None:
    hits = [
        Hit("factory.py", 1, 10, 3.0, "python", 0),  # mentions parse_config twice
        Hit("config.py", 1, 10, 2.0, "python", 1),  # defines it
    ]
    symbols = {
        "config.py": [node("parse_config", "config.py", 4)],
        "factory.py": [node("WidgetFactory", "factory.py", 4)],
    }
    ranked = boost_definitions("parseConfig", hits, symbols, 2)
    assert [h.path for h in ranked] == ["config.py", "factory.py"]
    assert ranked[0].score == 2.0 * EXACT_DEFINITION_BOOST


def test_definitions_outside_the_chunk_do_not_count() -> None:
    hits = [Hit("a.py", 1, 3, 1.0, "python", 0), Hit("b.py", 1, 3, 0.9, "python", 1)]
    symbols = {"b.py": [node("parse", "b.py", 40)]}
    assert [h.path for h in boost_definitions("parse", hits, symbols, 2)] == ["a.py", "b.py"]


def test_partial_and_absent_matches() -> None:
    assert definition_boost("config parser", [node("ConfigParser", "x", 1)]) == 2.0
    assert definition_boost("parse the config", [node("parse_config", "x", 1)]) == 1.5
    assert definition_boost("network retry", [node("parse_config", "x", 1)]) == 1.0
