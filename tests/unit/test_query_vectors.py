"""QueryVectors: query embeddings cached by normalised text, least recently used evicted."""

from __future__ import annotations

import numpy as np

from chalicelib.services import retriever
from chalicelib.services.retriever import QueryVectors, normalised_query
from tests.fakes.models import FakeEmbedder


def test_queries_that_differ_only_in_whitespace_are_embedded_once() -> None:
    embedder = FakeEmbedder()
    queries = QueryVectors(embedder)

    first = queries.vector("  where is the\tlease   renewed\n", embedder.model_id)
    again = queries.vector("where is the lease renewed", embedder.model_id)
    pending = queries.pending("where  is the lease renewed ", embedder.model_id)()

    assert embedder.calls == ["where is the lease renewed"]
    assert first is not None and again is not None and pending is not None
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, pending)


def test_case_and_words_still_make_different_queries() -> None:
    assert normalised_query("Fix  Blueprint") == "Fix Blueprint"
    assert normalised_query("fix blueprint") != normalised_query("Fix Blueprint")


def test_the_least_recently_used_query_is_evicted() -> None:
    embedder = FakeEmbedder()
    queries = QueryVectors(embedder)
    size = retriever._QUERY_CACHE
    for n in range(size):
        queries.vector(f"query {n}", embedder.model_id)

    queries.vector("query 0", embedder.model_id)  # used again: now the most recent
    queries.vector("one more", embedder.model_id)  # evicts the least recent: query 1
    embedder.calls.clear()
    queries.vector("query 0", embedder.model_id)
    queries.vector("query 1", embedder.model_id)

    assert embedder.calls == ["query 1"]


def test_another_model_gets_no_vector_and_costs_no_embedding() -> None:
    embedder = FakeEmbedder()
    queries = QueryVectors(embedder)

    assert queries.vector("q", "other-model") is None
    assert queries.pending("q", None)() is None
    assert embedder.calls == []
