"""Search and chat over a generation: readiness, staleness, verified sources."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.api.models import SearchRequest
from chalicelib.api.queries import search_query
from chalicelib.api.wire import parse_body
from chalicelib.domain.models import Status
from chalicelib.domain.tenancy import conversation_key
from chalicelib.errors import InvalidRequest, NotReady
from chalicelib.ports import Passage
from chalicelib.services.answering import verified_sources
from chalicelib.services.chat import Question
from chalicelib.services.search import MAX_QUERY, SearchQuery
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES, Harness


@pytest.fixture
def ready() -> Harness:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    h.run()
    return h


def test_camel_case_query_finds_snake_case_code(ready: Harness) -> None:
    result = ready.searcher().search(SearchQuery("parseConfig", (REPO_ID,)))
    hits = [hit.passage for hit in result.hits]
    assert {h.path for h in hits} >= {"widgets/config.py", "widgets/factory.py"}
    assert all("parse_config" in h.snippet for h in hits[:2])


def test_search_ranks_the_file_that_matches_every_term_first(ready: Harness) -> None:
    result = ready.searcher().search(SearchQuery("read widget configuration file", (REPO_ID,)))
    top = result.hits[0].passage
    assert top.path == "widgets/config.py"
    assert top.start_line <= 5 <= top.end_line
    assert "configuration" in top.snippet
    assert top.language == "python"
    repo = ready.repos.get(REPO_ID)
    assert repo is not None and result.answered[REPO_ID].indexed_sha == repo.indexed_sha
    assert result.answered[REPO_ID].stale is False


def test_search_of_unknown_repository_is_not_ready_idle() -> None:
    with pytest.raises(NotReady) as info:
        Harness().searcher().search(SearchQuery("x", (REPO_ID,)))
    assert info.value.status == "idle"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"repositoryId": REPO_ID}, "query"),
        ({"repositoryId": REPO_ID, "query": "x", "k": 0}, "^k: Input should be greater"),
        ({"repositoryId": REPO_ID, "query": "x", "k": True}, "^k: Input should be a valid integer"),
        ({"repositoryId": "github:../etc", "query": "x"}, "repositoryId"),
        ({"repositoryId": REPO_ID, "query": "x", "extra": 1}, "unknown fields"),
        ({"repositoryId": REPO_ID, "query": 42}, "query"),
    ],
)
def test_bad_search_requests_are_refused(
    ready: Harness, body: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        ready.searcher().search(search_query(parse_body(SearchRequest, body)))


@pytest.mark.parametrize(
    "query, message",
    [
        (lambda: SearchQuery("x"), "exactly one scope"),
        (lambda: SearchQuery("x", (REPO_ID,), owner="acme"), "exactly one scope"),
        (lambda: SearchQuery(" ", (REPO_ID,)), "query must"),
        (lambda: SearchQuery("x" * (MAX_QUERY + 1), (REPO_ID,)), "query must"),
        (lambda: SearchQuery("x", (REPO_ID,), k=101), "k must"),
        (lambda: SearchQuery("x", ("github:../etc",)), "repositoryId"),
        (lambda: SearchQuery("x", (REPO_ID,), mode="fuzzy"), "mode must"),
        (lambda: Question(REPO_ID, ""), "question must"),
        (lambda: Question(REPO_ID, "why?", conversation_id="short"), "conversationId"),
    ],
)
def test_a_query_built_in_python_holds_the_same_rules(
    query: Callable[[], object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        query()


def test_a_pasted_change_request_of_max_query_characters_is_a_query() -> None:
    assert len(SearchQuery("x" * MAX_QUERY, (REPO_ID,)).query) == MAX_QUERY == 4000


def test_chat_while_first_index_runs_is_not_ready_indexing() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    with pytest.raises(NotReady) as info:
        h.chat().ask(Question(REPO_ID, "how is config parsed?"))
    assert info.value.status == "indexing"


def test_chat_after_failure_is_not_ready_error() -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    del h.git.remotes[REMOTE]
    h.run()
    with pytest.raises(NotReady) as info:
        h.chat().ask(Question(REPO_ID, "anything"))
    assert info.value.status == "error"


def test_chat_answers_with_verified_sources_and_a_conversation(ready: Harness) -> None:
    answer = ready.chat().ask(Question(REPO_ID, "how is the config parsed?"))
    assert answer.sources, answer
    assert "widgets/config.py" in {s.path for s in answer.sources}
    assert all(1 <= s.start_line <= s.end_line for s in answer.sources)
    follow = ready.chat().ask(Question(REPO_ID, "and who calls it?", answer.conversation_id))
    assert follow.conversation_id == answer.conversation_id
    key = conversation_key(ready.caller.tenant, answer.conversation_id)
    assert len(ready.conversations.history(key)) == 2


def test_chat_during_reindex_answers_from_last_generation_marked_stale(ready: Harness) -> None:
    ready.git.commit(REMOTE, {**SAMPLE_FILES, "widgets/new.py": "def fresh():\n    pass\n"})
    ready.request()
    answer = ready.chat().ask(Question(REPO_ID, "parse config"))
    assert answer.freshness.stale is True
    repo = ready.repos.get(REPO_ID)
    assert repo is not None and repo.status is Status.INDEXING
    assert answer.freshness.indexed_sha == repo.indexed_sha != answer.freshness.head_sha


def test_unverifiable_sources_are_dropped(ready: Harness) -> None:
    repo = ready.repos.get(REPO_ID)
    assert repo is not None and repo.generation is not None
    loaded = ready.loader.load(repo.generation)
    good = Passage("widgets/config.py", 4, 7, "", 1.0)
    candidates = [
        good,
        Passage("widgets/missing.py", 1, 2, "", 1.0),
        Passage("widgets/config.py", 5, 99, "", 1.0),
        Passage("widgets/config.py", 0, 1, "", 1.0),
    ]
    assert verified_sources(loaded, candidates) == [good]


def test_pointer_cache_serves_a_published_pointer_until_its_ttl(ready: Harness) -> None:
    from chalicelib.services.generations import PointerCache

    cache = PointerCache(ready.repos, ready.clock, ttl_seconds=2)
    first = cache.get(REPO_ID)
    ready.git.commit(REMOTE, {**SAMPLE_FILES, "more.py": "def more():\n    pass\n"})
    ready.request()
    ready.run()
    assert cache.get(REPO_ID) == first  # within the TTL: the cached pointer
    ready.clock.advance(2)
    newer = cache.get(REPO_ID)
    assert newer is not None and first is not None and newer.indexed_sha != first.indexed_sha


def test_pointer_cache_never_caches_a_repository_without_a_generation() -> None:
    from chalicelib.services.generations import PointerCache

    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    cache = PointerCache(h.repos, h.clock, ttl_seconds=60)
    assert cache.get(REPO_ID) is None
    h.request()
    assert cache.get(REPO_ID) is not None
    h.run()
    repo = cache.get(REPO_ID)
    assert repo is not None and repo.status is Status.READY
