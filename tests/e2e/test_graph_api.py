"""The graph API over a real Lean project indexed end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.conftest import Stack
from tests.gitrepo import init_repo

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lean"


@pytest.fixture
def lean_repo(stack: Stack, tmp_path: Path) -> str:
    files = {
        p.relative_to(FIXTURE).as_posix(): p.read_bytes() for p in FIXTURE.rglob("*") if p.is_file()
    }
    init_repo(tmp_path / "lean", files)
    rid = stack.post("/repositories/index", {"url": str(tmp_path / "lean")}).json_body[
        "repositoryId"
    ]
    stack.pump.drain()
    return str(rid)


def names(nodes: list[dict[str, Any]]) -> set[str]:
    return {n["name"] for n in nodes}


def test_sorry_lists_incomplete_declarations_and_everything_they_block(
    stack: Stack, lean_repo: str
) -> None:
    body = stack.get(f"/repositories/{lean_repo}/graph/sorry").json_body
    assert names(body["incomplete"]) == {"Fixture.chosen", "Fixture.Algebra.mul_comm_of_sorry"}
    assert names(body["blocked"]) == {
        "Fixture.chosen_eq",
        "Fixture.Algebra.uses_sorry",
        "Fixture.Algebra.uses_transitively",
        "Fixture.Algebra.main_blocked",
    }
    for node in body["incomplete"] + body["blocked"]:
        assert node["path"].endswith(".lean") and node["lines"][0] <= node["lines"][1]


def test_neighbourhood_follows_dependencies_and_dependents(stack: Stack, lean_repo: str) -> None:
    name = quote("Fixture.Algebra.uses_transitively")
    deps = stack.get(f"/repositories/{lean_repo}/graph/nodes/{name}?depth=2").json_body
    by_name = {n["name"]: n["distance"] for n in deps["nodes"]}
    assert by_name["Fixture.Algebra.uses_sorry"] == 1
    assert by_name["Fixture.Algebra.mul_comm_of_sorry"] == 2
    up = stack.get(
        f"/repositories/{lean_repo}/graph/nodes/{quote('Fixture.Algebra.mul_comm_of_sorry')}"
        "?direction=dependents&depth=1"
    ).json_body
    assert "Fixture.Algebra.uses_sorry" in names(up["nodes"])


def test_waves_order_every_declaration_after_its_dependencies(stack: Stack, lean_repo: str) -> None:
    waves = stack.get(f"/repositories/{lean_repo}/graph/waves").json_body["waves"]
    level = {}
    for wave in waves:
        for node in wave["nodes"] + [n for c in wave["cycles"] for n in c]:
            assert node["name"] not in level
            level[node["name"]] = wave["level"]
    assert level["Fixture.Algebra.mul_comm_of_sorry"] < level["Fixture.Algebra.uses_sorry"]
    assert level["Fixture.Algebra.uses_sorry"] < level["Fixture.Algebra.uses_transitively"]


def test_symbols_by_prefix_and_kind(stack: Stack, lean_repo: str) -> None:
    found = stack.get(f"/repositories/{lean_repo}/symbols?q=uses&limit=5").json_body["symbols"]
    assert {"Fixture.Algebra.uses_sorry", "Fixture.Algebra.uses_transitively"} <= names(found)
    structures = stack.get(f"/repositories/{lean_repo}/symbols?kind=structure").json_body
    assert structures["symbols"] and all(s["kind"] == "structure" for s in structures["symbols"])
    hits = stack.post(
        "/search", {"repositoryId": lean_repo, "query": "uses_sorry", "mode": "symbol"}
    ).json_body["hits"]
    assert hits[0]["symbol"] == "Fixture.Algebra.uses_sorry" and hits[0]["snippet"]


def test_unknown_names_and_bad_parameters(stack: Stack, lean_repo: str) -> None:
    missing = stack.get(f"/repositories/{lean_repo}/graph/nodes/Nope.nothing")
    assert missing.status_code == 404 and "Nope.nothing" in missing.json_body["error"]["message"]
    for query in ("depth=0", "depth=x", "direction=sideways"):
        bad = stack.get(f"/repositories/{lean_repo}/graph/nodes/Fixture.chosen?{query}")
        assert bad.status_code == 400, query
    assert stack.get(f"/repositories/{lean_repo}/symbols?limit=100000").status_code == 400


def test_graph_of_a_repository_never_indexed_answers_like_chat(stack: Stack) -> None:
    resp = stack.get("/repositories/github:nobody:nothing/graph/sorry")
    assert resp.status_code == 400 and resp.json_body["status"] == "idle"
