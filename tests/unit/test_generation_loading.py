"""Loading a generation: search reads each file's definitions; the resolved code graph is
built on first use, once, and generations written with a stored graph still load."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from chalicelib.domain import layout
from chalicelib.domain.codecs import decode_manifest, encode_graph, encode_manifest
from chalicelib.domain.increments import SHARD_SEGMENT
from chalicelib.errors import PermanentError
from chalicelib.services.generations import GenerationLoader, LoadedGeneration
from chalicelib.services.retriever import Passage
from chalicelib.services.search import SearchQuery
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES, Harness


@pytest.fixture
def ready() -> Harness:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    h.run()
    return h


def loaded_of(h: Harness) -> LoadedGeneration:
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.generation is not None
    return h.loader.load(repo.generation)


def search(h: Harness, query: str, mode: str) -> list[Passage]:
    found = h.searcher().search(SearchQuery(query, (REPO_ID,), mode=mode))
    return [hit.passage for hit in found.hits]


def test_search_in_every_graph_free_mode_leaves_the_graph_unbuilt(ready: Harness) -> None:
    assert search(ready, "parse config", "lexical")[0].path == "widgets/config.py"
    hybrid = search(ready, "read widget configuration file", "hybrid")
    assert hybrid[0].path == "widgets/config.py"
    symbol = search(ready, "parse_config", "symbol")[0]
    assert (symbol.path, symbol.extra["symbol"], symbol.extra["kind"]) == (
        "widgets/config.py",
        "parse_config",
        "function",
    )
    loaded = loaded_of(ready)
    assert loaded.code is not None and not loaded.code.built
    assert loaded.definitions is not None and "widgets/factory.py" in loaded.definitions


def test_the_graph_is_built_once_on_first_use_and_agrees_with_the_definitions(
    ready: Harness,
) -> None:
    loaded = loaded_of(ready)
    definitions = loaded.definitions
    with ThreadPoolExecutor(max_workers=8) as pool:
        graphs = list(pool.map(lambda _: loaded.graph, range(16)))
    assert loaded.code is not None and loaded.code.built
    assert graphs[0] is not None and all(g is graphs[0] for g in graphs)
    assert definitions == graphs[0].by_path


def stored_graph_generation(h: Harness, graph_bytes: bytes) -> None:
    """Rewrite the generation as one written before the files-index shards."""
    repo = h.repos.get(REPO_ID)
    assert repo is not None and repo.generation is not None
    key = layout.manifest_key(repo.generation.key)
    manifest = decode_manifest(h.blobs.get(key))
    segments = {n: k for n, k in manifest.segments.items() if not n.startswith(SHARD_SEGMENT)}
    h.blobs.put("legacy/graph.bin", graph_bytes)
    h.blobs.put(
        key, encode_manifest(replace(manifest, segments={**segments, "graph": "legacy/graph.bin"}))
    )
    h.loader = GenerationLoader(h.blobs)


def test_a_generation_with_a_stored_graph_answers_from_it(ready: Harness) -> None:
    graph = loaded_of(ready).graph
    assert graph is not None
    stored_graph_generation(ready, encode_graph(graph))
    assert search(ready, "parse_config", "symbol")[0].path == "widgets/config.py"
    loaded = loaded_of(ready)
    assert loaded.graph is not None and loaded.graph.nodes == graph.nodes
    assert loaded.definitions == graph.by_path


def test_a_corrupt_stored_graph_is_unreadable_when_first_used(ready: Harness) -> None:
    stored_graph_generation(ready, b"junk")
    loaded = loaded_of(ready)
    with pytest.raises(PermanentError, match="is unreadable"):
        _ = loaded.graph
