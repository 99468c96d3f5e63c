"""Tenants on fakes: a repository belongs to the tenants that proved access to it; anyone else
gets the answers of an unknown repository; tokens are per tenant; the server token is scoped;
quotas cap registrations, also under concurrent requests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from chalicelib.adapters.extractive_answerer import ExtractiveAnswerer
from chalicelib.domain.identity import ADMIN_TENANT, Caller, Scope
from chalicelib.domain.models import Repository, Status
from chalicelib.domain.tenancy import (
    Quota,
    Usage,
    can_read,
    conversation_key,
    quota_for,
    quota_refusal,
)
from chalicelib.errors import AccessDenied, QuotaExceeded, StrataError
from chalicelib.ports import Answer, Passage, Turn
from chalicelib.services.chat import ChatService, Question
from chalicelib.services.context import IndexConfig
from chalicelib.services.events import EventQueries
from chalicelib.services.generations import PointerCache
from chalicelib.services.graph_queries import GraphQueries
from chalicelib.services.search import SearchQuery
from tests.fakes.models import FakeEmbedder
from tests.freshness_harness import FreshnessHarness
from tests.harness import ADMIN, REMOTE, REPO_ID, SAMPLE_FILES

ACME = Caller("acmekey00001", "acme", Scope.INDEX)
BRAVO = Caller("bravokey0001", "bravo", Scope.INDEX)
CAROL = Caller("carolkey0001", "carol", Scope.READ)
UNKNOWN_ID = "github:acme:nothing"
GADGETS_ID, GADGETS = "github:acme:gadgets", "https://github.com/acme/gadgets.git"
SERVER_TOKEN = "ghs_server"


@pytest.fixture
def h() -> FreshnessHarness:
    harness = FreshnessHarness(embedder=FakeEmbedder())
    harness.git.commit(REMOTE, SAMPLE_FILES)
    return harness


def answer(call: Callable[[], Any]) -> Any:
    """What a call answers, or the error it raises (type, message, status)."""
    try:
        return call()
    except StrataError as exc:
        return (type(exc), exc.message, getattr(exc, "status", None))


def reads(h: FreshnessHarness, caller: Caller, rid: str) -> dict[str, Any]:
    """Every read a caller can make of a repository, with its id masked."""
    graph = GraphQueries(pointers=h.pointers, loader=h.loader, caller=caller)
    events = EventQueries(events=h.events, repos=h.repos, caller=caller)
    calls: dict[str, Callable[[], Any]] = {
        "search": lambda: h.searcher(caller).search(SearchQuery("widget", (rid,))),
        "many": lambda: h.searcher(caller).search(SearchQuery("widget", (rid, "github:x:y"))),
        "chat": lambda: h.chat(caller).ask(Question(rid, "what is it?")),
        "symbols": lambda: graph.symbols(rid, "Widget", None, 10),
        "waves": lambda: graph.waves(rid),
        "events": lambda: events.list(rid, 20, None),
    }
    return {name: str(answer(call)).replace(rid, "<id>") for name, call in calls.items()}


# -- pure --------------------------------------------------------------------------------------


def test_quota_refusals_name_the_cap_they_hit() -> None:
    quota = Quota(max_repositories=2, max_bytes=100)
    assert quota_refusal(Usage(1, 50), 50, quota) is None
    assert "MAX_REPOSITORIES" in (quota_refusal(Usage(2, 0), 0, quota) or "")
    assert "MAX_BYTES" in (quota_refusal(Usage(1, 60), 50, quota) or "")
    assert "MAX_BYTES" in (quota_refusal(Usage(1, 100), 0, quota) or "")  # at the cap
    assert quota_refusal(Usage(99, 10**12), 10**9, None) is None
    assert quota_for(ADMIN_TENANT, quota) is None and quota_for("acme", quota) == quota
    assert quota_for("acme", Quota()) is None  # 0: no caps


def test_a_repository_is_readable_by_its_tenants_and_admins_only() -> None:
    repo = Repository(id=REPO_ID, remote=REMOTE, tenants=frozenset({"acme"}))
    assert can_read(ACME, repo) and can_read(ADMIN, repo)
    assert not can_read(BRAVO, repo)
    assert conversation_key("acme", "c1") != conversation_key("bravo", "c1")


# -- who sees what -----------------------------------------------------------------------------


def test_two_tenants_see_a_repository_and_a_third_gets_unknown_answers(
    h: FreshnessHarness,
) -> None:
    h.request(ACME)
    h.run()
    assert h.request(BRAVO).status is Status.READY
    assert h.repo().tenants == {"acme", "bravo"}
    for caller in (ACME, BRAVO, ADMIN):
        found = h.searcher(caller).search(SearchQuery("widget", (REPO_ID,)))
        assert found.hits, caller
        events = EventQueries(events=h.events, repos=h.repos, caller=caller)
        assert events.list(REPO_ID, 5, None).events
    assert reads(h, CAROL, REPO_ID) == reads(h, CAROL, UNKNOWN_ID)
    assert "idle" in reads(h, CAROL, REPO_ID)["search"]


def test_a_cached_pointer_does_not_hide_a_new_registration(h: FreshnessHarness) -> None:
    h.pointers = PointerCache(h.repos, h.clock, ttl_seconds=60)  # a warm function's cache
    h.request(ACME)
    h.run()
    h.searcher(ACME).search(SearchQuery("widget", (REPO_ID,)))  # cached now
    h.request(BRAVO)
    assert h.searcher(BRAVO).search(SearchQuery("widget", (REPO_ID,))).hits


def test_an_owner_search_lists_only_the_callers_registrations(h: FreshnessHarness) -> None:
    h.git.commit(GADGETS, {"gadget.py": "class Gadget:\n    widget = 1\n"})
    h.request(ACME)
    h.request(BRAVO, repository_id=GADGETS_ID)
    h.run()
    scope = SearchQuery("widget", owner="acme")
    for caller, ids in ((ACME, [REPO_ID]), (BRAVO, [GADGETS_ID]), (ADMIN, [GADGETS_ID, REPO_ID])):
        found = h.searcher(caller).search(scope)
        assert list(found.answered) == ids
        assert {hit.repository_id for hit in found.hits} <= set(ids)
        assert found.unavailable == []  # not even named
    nothing = h.searcher(CAROL).search(scope)
    assert (nothing.answered, nothing.unavailable, nothing.hits) == ({}, [], [])


def test_a_second_tenant_reuses_every_artifact_and_vector(h: FreshnessHarness) -> None:
    h.request(ACME)
    h.run()
    embedder = h.embedder
    assert isinstance(embedder, FakeEmbedder)
    embedded = len(embedder.calls)
    stored = set(h.blobs.keys("blobs/")) | set(h.blobs.keys("vectors/"))
    assert h.request(BRAVO).status is Status.READY and not h.queue.pending  # nothing to build
    h.request(BRAVO, force=True)  # a rebuild of the same commit
    h.git.commit("https://github.com/bravo/widgets.git", SAMPLE_FILES)  # a fork: same blobs
    h.request(BRAVO, repository_id="github:bravo:widgets")
    h.run()
    for rid in (REPO_ID, "github:bravo:widgets"):
        stats = h.repo(rid).stats
        assert (stats.blobs_parsed, stats.chunks_embedded) == (0, 0), rid
    assert len(embedder.calls) == embedded
    # Content-addressed artifacts (blobs/) and vectors (vectors/): not one written again.
    assert set(h.blobs.keys("blobs/")) | set(h.blobs.keys("vectors/")) == stored


class RecordingAnswerer(ExtractiveAnswerer):
    """The extractive answerer, remembering the history each answer was given."""

    def __init__(self) -> None:
        self.histories: list[list[Turn]] = []

    def answer(self, question: str, passages: Sequence[Passage], history: Sequence[Turn]) -> Answer:
        self.histories.append(list(history))
        return super().answer(question, passages, history)


def test_conversations_are_bound_to_the_tenant_that_started_them(h: FreshnessHarness) -> None:
    h.request(ACME)
    h.request(BRAVO)
    h.run()
    answerer = RecordingAnswerer()

    def ask(caller: Caller, question: str, cid: str | None = None) -> str:
        chat = ChatService(
            pointers=h.pointers,
            loader=h.loader,
            retriever=h.retriever,
            answerer=answerer,
            conversations=h.conversations,
            clock=h.clock,
            ttl_seconds=60,
            caller=caller,
        )
        return chat.ask(Question(REPO_ID, question, cid)).conversation_id

    cid = ask(ACME, "how is the config parsed?")
    assert ask(BRAVO, "and the factory?", cid) == cid  # answered as for an unknown id...
    assert answerer.histories[-1] == []  # ...with none of acme's conversation
    ask(ACME, "and the factory?", cid)
    assert [t.question for t in answerer.histories[-1]] == ["how is the config parsed?"]
    acme = h.conversations.history(conversation_key("acme", cid))
    assert [t.question for t in acme] == ["how is the config parsed?", "and the factory?"]


# -- credentials -------------------------------------------------------------------------------


def private(h: FreshnessHarness, token: str = "acme-token") -> None:
    h.git.remotes[REMOTE].token = token


def test_a_tenant_registers_a_private_remote_only_with_its_own_token(h: FreshnessHarness) -> None:
    private(h)
    h.request(ACME, access_token="acme-token")
    h.run()
    assert h.repo().sealed_tokens.keys() == {"acme"}
    with pytest.raises(AccessDenied):
        h.request(BRAVO)  # anonymous: refused, and never rides on acme's stored token
    with pytest.raises(AccessDenied):
        h.request(BRAVO, access_token="guess")
    assert h.repo().tenants == {"acme"}
    assert reads(h, BRAVO, REPO_ID) == reads(h, BRAVO, UNKNOWN_ID)
    assert h.request(ACME).status is Status.READY  # acme's stored token


def test_the_server_token_is_only_an_admins_and_only_in_scope(h: FreshnessHarness) -> None:
    private(h, SERVER_TOKEN)
    h.config = IndexConfig(batch_files=2, server_git_token=SERVER_TOKEN, git_token_scope=())
    with pytest.raises(AccessDenied):
        h.request(ADMIN)  # no scope: nowhere
    h.config = IndexConfig(
        batch_files=2, server_git_token=SERVER_TOKEN, git_token_scope=("github.com/acme",)
    )
    with pytest.raises(AccessDenied):
        h.request(ACME)  # a tenant's request never carries it
    assert h.request(ADMIN).status is Status.INDEXING
    h.run()
    repo = h.repo()
    assert (repo.status, set(repo.tenants), repo.uses_server_token) == (
        Status.READY,
        {"admin"},
        True,
    )


def test_workers_use_the_server_token_only_where_an_admin_relied_on_it(
    h: FreshnessHarness,
) -> None:
    private(h, SERVER_TOKEN)
    scoped = IndexConfig(
        batch_files=2, server_git_token=SERVER_TOKEN, git_token_scope=("github.com/acme",)
    )
    h.repos.items[REPO_ID] = Repository(id=REPO_ID, remote=REMOTE, tenants=frozenset({"acme"}))
    h.config = scoped
    assert h.sweep().failed == 1  # registered by a tenant: the sweep may not use it
    h.request(ADMIN)
    h.run()
    moved = h.git.commit(REMOTE, {**SAMPLE_FILES, "NEW.md": "# new\n"})
    assert h.sweep().requested == 1
    h.run()
    assert h.repo().indexed_sha == moved
    h.config = IndexConfig(batch_files=2, server_git_token=SERVER_TOKEN)  # scope withdrawn
    h.git.commit(REMOTE, {**SAMPLE_FILES, "NEW.md": "# newer\n"})
    assert h.sweep().failed == 1


# -- quotas ------------------------------------------------------------------------------------


def capped(h: FreshnessHarness, **caps: int) -> None:
    h.config = IndexConfig(batch_files=2, tenant_quota=Quota(**caps))


def repo_ids(n: int) -> list[str]:
    return [f"github:acme:repo-{i}" for i in range(n)]


def test_a_registration_past_the_repository_cap_is_refused(h: FreshnessHarness) -> None:
    capped(h, max_repositories=2)
    for rid in repo_ids(3):
        h.git.commit(f"https://github.com/acme/{rid.split(':')[2]}.git", {"a.py": "a = 1\n"})
    for rid in repo_ids(2):
        h.request(ACME, repository_id=rid)
    with pytest.raises(QuotaExceeded, match="STRATA_TENANT_MAX_REPOSITORIES"):
        h.request(ACME, repository_id=repo_ids(3)[2])
    assert h.repos.get(repo_ids(3)[2]) is None  # nothing recorded, nothing queued for it
    assert h.request(ACME, repository_id=repo_ids(1)[0]).status  # a registered one still works
    assert h.repos.usage("acme") == Usage(2, 0)
    h.request(ADMIN, repository_id=repo_ids(3)[2])  # the admin tenant has no caps


def test_a_registration_past_the_byte_cap_is_refused(h: FreshnessHarness) -> None:
    h.request(BRAVO)
    h.run()
    size = h.repo().stats.total_size
    capped(h, max_bytes=size - 1)
    with pytest.raises(QuotaExceeded, match="STRATA_TENANT_MAX_BYTES"):
        h.request(ACME)
    assert h.repos.usage("bravo").bytes == size  # counted at publish
    assert "acme" not in h.repo().tenants


def test_concurrent_registrations_never_pass_the_repository_cap(h: FreshnessHarness) -> None:
    capped(h, max_repositories=3)
    ids = repo_ids(12)
    for rid in ids:
        h.git.commit(f"https://github.com/acme/{rid.split(':')[2]}.git", {"a.py": "a = 1\n"})
    start = threading.Barrier(len(ids))
    refused: list[str] = []

    def register(rid: str) -> None:
        start.wait()
        try:
            h.request(ACME, repository_id=rid)
        except QuotaExceeded:
            refused.append(rid)

    threads = [threading.Thread(target=register, args=(rid,)) for rid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    registered = [rid for rid in ids if h.repos.get(rid) and "acme" in h.repo(rid).tenants]
    assert (len(registered), len(refused)) == (3, 9)
    assert h.repos.usage("acme").repositories == 3
