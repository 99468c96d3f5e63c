"""Searchable first on the local stack with the real local model (issue 16, ADR 11 revised):
a repository of more files than `lexical_first_files` is `ready` and lexically searchable
before its embed batches run; status says `vectors: embedding`, hybrid says `semantic:
partial`, mode semantic answers 409; once the embed queue drains, the vectors complete."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.settings import Settings
from tests.e2e.conftest import Stack
from tests.gitrepo import init_repo

FILES = {
    f"pkg/module_{i:02d}.py": f"def handler_{i}(request):\n    return request.path + '{i}'\n"
    for i in range(40)  # more than IndexConfig.lexical_first_files (32)
}


@pytest.fixture
def e2e_settings(e2e_settings: Settings) -> Settings:
    return replace(e2e_settings, embedder="minilm")


def pump(stack: Stack, *queues: str) -> None:
    for _ in range(1000):
        if sum(stack.pump.poll(q) for q in queues) == 0:
            return
    raise AssertionError("the queues did not drain")


def test_a_large_first_index_is_searchable_before_its_vectors(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "many"
    init_repo(path, FILES)
    resp = stack.post("/repositories/index", {"url": str(path)})
    rid = resp.json_body["repositoryId"]
    pump(stack, "index", "parse")  # the embed queue waits

    status = stack.get(f"/repositories/{rid}/status").json_body
    assert (status["status"], status["vectors"]) == ("ready", "embedding"), status
    assert status["progress"]["filesEmbedded"] < status["progress"]["numFiles"] == 40
    query = {"repositoryId": rid, "query": "handler request path"}
    hybrid = stack.post("/search", {**query, "mode": "hybrid"})
    assert hybrid.status_code == 200 and hybrid.json_body["hits"], hybrid.body
    assert hybrid.json_body["semantic"] == "partial"
    semantic = stack.post("/search", {**query, "mode": "semantic"})
    assert semantic.status_code == 409 and "being embedded" in semantic.body.decode()

    stack.pump.drain()
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert (status["status"], status["vectors"]) == ("ready", "complete"), status
    assert status["progress"]["filesEmbedded"] == 40
    hybrid = stack.post("/search", {**query, "mode": "hybrid"})
    assert hybrid.json_body["semantic"] == "complete"
    assert stack.post("/search", {**query, "mode": "semantic"}).json_body["hits"]
