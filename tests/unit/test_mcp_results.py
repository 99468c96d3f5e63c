"""The MCP tools' places in code: path and lines from the API, an openable location, and a
file URI only for a repository whose directory the server knows."""

from __future__ import annotations

from pathlib import Path

from chalicelib.api.models import ChatResponse, GraphNode
from chalicelib.mcp_server.results import Locator


def test_a_source_names_its_path_lines_and_location_and_a_uri_when_the_root_is_known(
    tmp_path: Path,
) -> None:
    where = Locator()
    chat = ChatResponse.model_validate(
        {
            "response": "It is published in publisher.py.",
            "conversationId": "c" * 12,
            "sources": [{"path": "ledger/publisher.py", "lines": [4, 8]}],
            "indexedSha": "a" * 40,
            "headSha": "a" * 40,
            "stale": False,
            "lagSeconds": 0,
        }
    )
    before = where.answer("local:ledger-1", chat).sources[0]
    assert (before.path, before.line, before.end_line) == ("ledger/publisher.py", 4, 8)
    assert before.location == "ledger/publisher.py:4-8" and before.uri is None

    where.remember("local:ledger-1", tmp_path)
    after = where.answer("local:ledger-1", chat)
    assert after.sources[0].uri == (tmp_path / "ledger/publisher.py").as_uri()
    assert after.dump()["sources"][0]["endLine"] == 8  # camelCase on the wire, as the API's


def test_a_graph_node_keeps_its_name_kind_and_distance() -> None:
    node = GraphNode.model_validate(
        {"name": "ledger.build", "kind": "function", "path": "b.py", "lines": [3, 5], "distance": 2}
    )
    place = Locator().node("github:a:b", node)
    assert (place.name, place.kind, place.distance, place.location) == (
        "ledger.build",
        "function",
        2,
        "b.py:3-5",
    )
