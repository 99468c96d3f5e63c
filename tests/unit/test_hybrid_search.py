"""Hybrid search on small fixture repositories where the right answer is known by construction,
the semantic mode, and scopes over several repositories."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from chalicelib.api.models import SearchRequest
from chalicelib.api.queries import search_query
from chalicelib.api.wire import parse_body
from chalicelib.domain.history import CommitChange, HistoryIndex, decode_history, encode_history
from chalicelib.domain.hybrid import DEFAULT_WEIGHTS, Weights, fuse, names_code, standardise
from chalicelib.domain.path_roles import (
    BENCH,
    DECLARATIONS,
    DOCS,
    EXAMPLE,
    SOURCE,
    TEST,
    asked_roles,
    demoted,
    path_role,
)
from chalicelib.errors import Conflict, InvalidRequest, NotReady
from chalicelib.services.chat import Question
from chalicelib.services.retrieval import Signals
from chalicelib.services.retriever import Retriever
from chalicelib.services.search import Searcher, SearchQuery, Unavailable
from tests.fakes.models import FakeEmbedder
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES, Harness

# Two modules say much the same words; only history and definitions tell them apart.
FILES = {
    **SAMPLE_FILES,
    "shop/cart.py": (
        "def add_item(cart, item):\n    cart.items.append(item)\n    return cart\n\n\n"
        "def cart_total(cart):\n"
        '    """The cart total is computed as the sum of the prices of its items."""\n'
        "    return sum(i.price for i in cart.items)\n"
    ),
    "shop/orders.py": (
        "from shop.cart import cart_total\n\n\n"
        "def place_order(cart):\n    return {'amount': cart_total(cart), 'state': 'placed'}\n"
    ),
    "tests/test_cart.py": (
        "from shop.cart import add_item, cart_total\n\n\n"
        "def test_cart_total_of_items():\n"
        "    cart = make_cart()\n    add_item(cart, item)\n    assert cart_total(cart) == 3\n"
    ),
}


def hits(h: Harness, query: str, mode: str = "hybrid") -> list[str]:
    found = h.searcher().search(SearchQuery(query, (REPO_ID,), mode=mode))
    return [hit.passage.path for hit in found.hits]


@pytest.fixture
def h() -> Harness:
    harness = Harness(embedder=FakeEmbedder())
    harness.git.commit(REMOTE, FILES, message="Initial import")
    harness.request()
    harness.run()
    return harness


def test_code_ranks_before_the_test_that_mentions_it_more(h: Harness) -> None:
    assert hits(h, "cart total of items", mode="lexical")[0] == "tests/test_cart.py"
    assert hits(h, "cart total of items")[0] == "shop/cart.py"


def test_a_query_that_asks_for_tests_gets_them(h: Harness) -> None:
    assert hits(h, "add a test for the cart total of items")[0] == "tests/test_cart.py"


def test_history_finds_the_file_past_commits_changed_for_the_same_reason(h: Harness) -> None:
    edited = {**FILES, "shop/orders.py": FILES["shop/orders.py"] + "\n# refunds\n"}
    h.git.commit(REMOTE, edited, message="Refunds: reverse a placed purchase")
    h.request()
    h.run()
    assert hits(h, "refunds of a purchase are reversed twice")[0] == "shop/orders.py"


def test_definitions_outrank_mentions(h: Harness) -> None:
    result = h.searcher().search(SearchQuery("cart_total is wrong", (REPO_ID,)))
    signals: dict[str, Any] = {h.passage.path: h.passage.extra["signals"] for h in result.hits}
    assert signals["shop/cart.py"]["symbol"] > signals["shop/orders.py"]["symbol"]
    assert next(iter(signals)) == "shop/cart.py"


def test_hybrid_returns_one_passage_per_file_with_signals(h: Harness) -> None:
    result = h.searcher().search(SearchQuery("cart total", (REPO_ID,), k=10))
    paths = [hit.passage.path for hit in result.hits]
    assert len(paths) == len(set(paths))
    first = result.hits[0]
    signals = first.passage.extra["signals"]
    assert isinstance(signals, dict) and set(signals) >= {
        "lexical",
        "semantic",
        "history",
        "symbol",
    }
    assert first.repository_id == REPO_ID and result.query.mode == "hybrid"


class GatedEmbedder(FakeEmbedder):
    """Embeds a query only once the text signals were scored: proves the two overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.text_scored = threading.Event()
        self.threads: list[str] = []
        self.armed = False  # set once indexing (which embeds in worker threads too) is done

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not self.armed:
            return super().embed(texts)
        self.threads.append(threading.current_thread().name)
        if threading.current_thread() is not threading.main_thread():
            assert self.text_scored.wait(timeout=30), "text signals were not scored meanwhile"
        return super().embed(texts)


def test_the_query_is_embedded_while_the_text_signals_are_scored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedder = GatedEmbedder()
    gated = Harness(embedder=embedder)
    gated.git.commit(REMOTE, FILES)
    gated.request()
    gated.run()
    embedder.armed = True
    original = Signals.text_signals

    def scored_then_released(self: Signals, query: str) -> dict[str, NDArray[np.float64]]:
        out = original(self, query)
        embedder.text_scored.set()
        return out

    monkeypatch.setattr(Signals, "text_signals", scored_then_released)
    embedder.threads.clear()
    assert hits(gated, "cart total of items")[0] == "shop/cart.py"
    assert embedder.threads == ["query-embedding_0"]


def test_semantic_mode_finds_the_chunk_with_the_same_meaning(h: Harness) -> None:
    assert hits(h, "append item to cart items", mode="semantic")[0] == "shop/cart.py"


def test_semantic_mode_without_vectors_is_a_conflict() -> None:
    plain = Harness()
    plain.git.commit(REMOTE, FILES)
    plain.request()
    plain.run()
    with pytest.raises(Conflict, match="no vectors"):
        plain.searcher().search(SearchQuery("cart", (REPO_ID,), mode="semantic"))
    assert hits(plain, "cart total of items")[0] == "shop/cart.py"  # hybrid still works


def test_owner_scope_searches_every_repository_of_the_owner(h: Harness) -> None:
    invoice = "def invoice_total(invoice):\n    return sum(line.amount for line in invoice)\n"
    billing = {
        "invoice.py": invoice,
        "customers.py": "def find_customer(name):\n    return CUSTOMERS.get(name)\n",
        "README.md": "# Billing\n\nSends monthly statements to customers.\n",
    }
    h.git.commit("https://github.com/acme/billing.git", billing)
    h.request(repository_id="github:acme:billing")
    h.run()
    result = h.searcher().search(SearchQuery("invoice total", owner="acme"))
    assert result.hits[0].repository_id == "github:acme:billing"
    assert set(result.answered) == {REPO_ID, "github:acme:billing"}


def test_a_list_scope_reports_repositories_that_cannot_answer(h: Harness) -> None:
    ids = (REPO_ID, "github:acme:missing")
    result = h.searcher().search(SearchQuery("cart", ids))
    assert result.unavailable == [
        Unavailable(
            "github:acme:missing",
            "idle",
            "this repository has not been indexed; POST /repositories/index",
        )
    ]
    assert all(hit.repository_id == REPO_ID for hit in result.hits)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": "x"}, "exactly one scope"),
        ({"repositoryId": REPO_ID, "owner": "acme", "query": "x"}, "exactly one scope"),
        ({"repositoryId": REPO_ID, "repositoryIds": [REPO_ID], "query": "x"}, "exactly one scope"),
        ({"owner": "ac/me", "query": "x"}, "owner: String should match pattern"),
        ({"repositoryIds": [], "query": "x"}, "repositoryIds: List should have at least 1"),
        ({"repositoryIds": "github:acme:widgets", "query": "x"}, "repositoryIds: .* valid list"),
        ({"repositoryIds": ["github:../x"], "query": "x"}, "repositoryIds.0: String should match"),
        ({"repositoryId": REPO_ID, "query": "x", "mode": "vector"}, "mode: Input should be"),
    ],
)
def test_bad_scopes_and_modes_are_refused(
    h: Harness, body: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        h.searcher().search(search_query(parse_body(SearchRequest, body)))


def test_one_unknown_repository_is_not_ready(h: Harness) -> None:
    with pytest.raises(NotReady):
        h.searcher().search(SearchQuery("x", ("github:acme:nothing",)))


def test_chat_retrieves_through_hybrid(h: Harness) -> None:
    answer = h.chat().ask(Question(REPO_ID, "how is the cart total computed?"))
    assert answer.sources[0].path == "shop/cart.py"


def test_path_roles() -> None:
    assert path_role("src/flask/app.py") == SOURCE
    assert path_role("tests/test_app.py") == TEST
    assert path_role("src/app.test.ts") == TEST
    assert path_role("pkg/conftest.py") == TEST
    assert path_role("docs/index.rst") == DOCS
    assert path_role("README.md") == DOCS
    assert path_role("playground/legacy/module.js") == EXAMPLE  # vite's: 970 small apps
    assert asked_roles("Add tests for the parser") == {TEST}
    assert asked_roles("Fix the parser") == frozenset()


def test_declaration_files_and_type_test_folders_rank_after_the_code() -> None:
    # vite: src/types/*.d.ts re-declare dependencies' types, __tests_dts__/ test them.
    assert path_role("packages/vite/src/types/chokidar.d.ts") == DECLARATIONS
    assert path_role("index.d.mts") == DECLARATIONS
    assert path_role("packages/vite/src/node/__tests_dts__/plugin.ts") == TEST
    assert path_role("src/__tests__/app.ts") == TEST
    assert path_role("packages/vite/src/node/watch.ts") == SOURCE
    assert path_role("src/__init__.py") == SOURCE
    assert asked_roles("which types does the watcher options declare?") == {DECLARATIONS}
    assert demoted([DECLARATIONS, SOURCE], asked_roles("what does the watcher ignore?")) == [
        True,
        False,
    ]


def test_directories_named_by_words_of_a_role() -> None:
    # Source sets, .NET test projects and test modules name their role inside a longer name.
    assert path_role("okhttp/src/jvmTest/kotlin/okhttp3/CallTest.kt") == TEST
    assert path_role("okhttp/src/androidTest/kotlin/Smoke.kt") == TEST
    assert path_role("src/Polly.Core.Tests/Retry/RetryTests.cs") == TEST
    assert path_role("okhttp-testing-support/src/main/kotlin/Rule.kt") == TEST
    assert path_role("regression-test/src/main/java/App.java") == TEST
    assert path_role("_examples/rest/main.go") == EXAMPLE
    assert path_role("benchsuite/benchsuite") == BENCH
    # Words that only look like one, or that are no sign of a role inside a name.
    assert path_role("okhttp/src/commonJvmAndroid/kotlin/okhttp3/Call.kt") == SOURCE
    assert path_role("src/_pytest/python.py") == SOURCE
    assert path_role("contest/latest/attestation.go") == SOURCE
    assert path_role("openapi-spec/schema.py") == SOURCE
    assert path_role("website-builder/build.py") == SOURCE


def test_fusion_standardises_and_demotes() -> None:
    signals = {"lexical": np.array([10.0, 1.0, 5.0]), "semantic": np.array([0.1, 0.9, 0.5])}
    fused = fuse(signals, [False, False, True], Weights(lexical=1.0, semantic=1.0))
    assert fused.scores[2] < min(fused.scores[:2])
    assert standardise(np.array([1.0, 1.0])).tolist() == [0.0, 0.0]
    assert (
        standardise(np.array([-np.inf, 1.0, 3.0])).tolist()[0]
        == standardise(np.array([1.0, 1.0, 3.0])).tolist()[0]
    )


def test_history_round_trips_and_scores_by_commit_messages() -> None:
    commits = (
        CommitChange("a" * 40, "Fix redirect loop on expired session", ("auth.py",)),
        CommitChange("b" * 40, "Speed up template rendering", ("render.py", "auth.py")),
    )
    assert decode_history(encode_history(commits)) == commits
    index = HistoryIndex(commits, ["auth.py", "render.py", "other.py"])
    scores = index.scores("session redirect broken")
    assert scores[0] > 0 and scores[1] == 0 and scores[2] == 0
    with pytest.raises(ValueError, match="corrupt history"):
        decode_history(b"not zlib")


def test_a_file_scores_its_best_matching_commit_not_the_sum_of_its_commits() -> None:
    # core.py is in every commit, some of which mention "cache"; only one commit is about
    # the cache eviction the query asks for, and it changed eviction.py (and core.py).
    commits = [
        CommitChange(f"{i:040x}", f"Cache warm-up step {i} for the loader", ("core.py",))
        for i in range(12)
    ]
    commits.append(CommitChange("e" * 40, "Fix cache eviction order", ("eviction.py", "core.py")))
    index = HistoryIndex(commits, ["core.py", "eviction.py", "unrelated.py"])
    core, eviction, unrelated = index.scores("cache eviction evicts the newest entry")
    assert core == pytest.approx(eviction) and eviction > 0 and unrelated == 0
    assert index.commit_scores("eviction").argmax() == len(commits) - 1


@pytest.mark.parametrize(
    "query",
    [
        "Fix nested blueprint url_prefix",
        "Rename variable inside parseConfig",
        "Prove the last case of Nat.Prime.two_le",
        "Change `retry` option default",
        "Add support for request.stream()",
    ],
)
def test_a_query_that_names_code_keeps_the_weights(query: str) -> None:
    assert names_code(query)
    assert DEFAULT_WEIGHTS.for_query(query) == DEFAULT_WEIGHTS


@pytest.mark.parametrize(
    "query",
    [
        "which class parses the config file?",
        "middleware that answers a health check ping on a fixed endpoint",
        "how are IPv4 and IPv6 connection attempts raced against each other?",
        "Restored 2.5 compatibility and actual fix for the json problem",
    ],
)
def test_a_query_in_prose_weighs_meaning_over_symbol_names(query: str) -> None:
    prose = DEFAULT_WEIGHTS.for_query(query)
    assert not names_code(query)
    assert prose.semantic == DEFAULT_WEIGHTS.semantic * DEFAULT_WEIGHTS.prose_semantic
    assert prose.symbol == DEFAULT_WEIGHTS.symbol * DEFAULT_WEIGHTS.prose_symbol
    assert (prose.lexical, prose.history, prose.name) == (1.0, 1.0, DEFAULT_WEIGHTS.name)


def test_the_retriever_fuses_with_the_weights_of_the_query_kind(h: Harness) -> None:
    def symbol_parts(query: str, weights: Weights) -> dict[str, float]:
        retriever = Retriever(h.retriever.signals, h.retriever.queries, weights)
        searcher = Searcher(
            pointers=h.pointers,
            loader=h.loader,
            retriever=retriever,
            repos=h.repos,
            caller=h.caller,
        )
        hits = searcher.search(SearchQuery(query, (REPO_ID,))).hits
        return {hit.passage.path: hit.passage.extra["signals"]["symbol"] for hit in hits}  # type: ignore[index]

    ungated = Weights(prose_semantic=1.0, prose_symbol=1.0)
    prose = "how does the factory build widgets"  # `build` is a method's name, by chance
    gated, plain = symbol_parts(prose, DEFAULT_WEIGHTS), symbol_parts(prose, ungated)
    assert any(plain.values())
    assert gated.keys() == plain.keys()
    for path, part in plain.items():  # parts are rounded to 3 places
        assert gated[path] == pytest.approx(part * DEFAULT_WEIGHTS.prose_symbol, abs=1e-3)
    code = "how does WidgetFactory.build work"
    assert symbol_parts(code, DEFAULT_WEIGHTS) == symbol_parts(code, ungated)
