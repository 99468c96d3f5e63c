"""Repository events: what the pipeline appends, and how the API pages through them."""

from __future__ import annotations

import pytest

from chalicelib.api import views
from chalicelib.domain.events import (
    MAX_LIMIT,
    EventType,
    decode_cursor,
    encode_cursor,
    new_event_key,
)
from chalicelib.domain.models import Status
from chalicelib.domain.validation import bounded_int
from chalicelib.errors import InvalidRequest
from chalicelib.services.events import EventQueries, append_event
from tests.fakes.aws import FakeClock
from tests.fakes.stores import FakeEventLog, FakeLockManager, FakeRepoStore
from tests.freshness_harness import FreshnessHarness
from tests.harness import ADMIN, REMOTE, REPO_ID


def admin_queries(log: FakeEventLog) -> EventQueries:
    """Event queries of an admin caller, who sees every repository's events."""
    return EventQueries(events=log, repos=FakeRepoStore(FakeLockManager()), caller=ADMIN)


def test_event_keys_sort_by_time_then_by_append_order_within_a_millisecond() -> None:
    keys = [new_event_key(1_700_000_000.0) for _ in range(50)]
    assert keys == sorted(keys)
    assert len(set(keys)) == 50
    assert new_event_key(1_700_000_000.002) > keys[-1]
    assert keys[0].startswith("001700000000000#")


def test_a_cursor_round_trips_and_anything_else_is_refused() -> None:
    key = new_event_key(1_700_000_000.0)
    assert decode_cursor(encode_cursor(key)) == key
    assert decode_cursor(None) is None and decode_cursor("") is None
    for bad in ("!!!", encode_cursor("1#2"), "A" * 65, encode_cursor("x" * 36), 5):
        with pytest.raises(InvalidRequest, match="cursor"):
            decode_cursor(bad)


@pytest.mark.parametrize(("raw", "limit"), [(None, 20), ("", 20), ("1", 1), ("100", 100)])
def test_limit_defaults_to_twenty(raw: str | None, limit: int) -> None:
    assert bounded_int(raw, "limit", 1, MAX_LIMIT, 20) == limit


@pytest.mark.parametrize(
    "raw", ["0", "101", "-1", "ten", "2.5", "\u00b2", "\u2460", "\u0663", "1" * 5000, " 5", "+5"]
)
def test_limit_outside_one_to_a_hundred_or_not_ascii_digits_is_refused(raw: str) -> None:
    with pytest.raises(InvalidRequest, match=f"1 to {MAX_LIMIT}"):
        bounded_int(raw, "limit", 1, MAX_LIMIT, 20)


def test_pages_list_events_newest_first_until_the_last_page() -> None:
    log, clock = FakeEventLog(), FakeClock()
    for n in range(45):
        append_event(log, clock, REPO_ID, EventType.WEBHOOK_RECEIVED, {"n": n})
        clock.advance(0.5 if n % 2 else 0)  # some share a millisecond
    append_event(log, clock, "github:acme:other", EventType.WEBHOOK_RECEIVED, {"n": -1})
    queries = admin_queries(log)
    seen: list[object] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = queries.list(REPO_ID, 20, cursor)
        seen += [e.data["n"] for e in page.events]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(range(44, -1, -1))


def test_an_exact_last_page_has_no_next_cursor() -> None:
    log, clock = FakeEventLog(), FakeClock()
    for n in range(4):
        append_event(log, clock, REPO_ID, EventType.INDEX_STARTED, {"n": n})
    first = admin_queries(log).list(REPO_ID, 2, None)
    second = admin_queries(log).list(REPO_ID, 2, first.next_cursor)
    assert len(second.events) == 2
    assert second.next_cursor is None


def test_an_event_view_has_its_type_iso_time_and_data() -> None:
    log, clock = FakeEventLog(), FakeClock(1_700_000_000.25)
    append_event(log, clock, REPO_ID, EventType.INDEX_REQUESTED, {"sha": "a" * 40})
    page = views.events_page(admin_queries(log).list(REPO_ID, 20, None))
    [event] = page["events"]
    assert event["type"] == "IndexRequested"
    assert event["at"] == "2023-11-14T22:13:20.250Z"
    assert event["data"] == {"sha": "a" * 40}
    assert page["repositoryId"] == REPO_ID


def test_an_unknown_repository_has_no_events_and_a_bad_id_is_refused() -> None:
    queries = admin_queries(FakeEventLog())
    assert queries.list("github:acme:nothing", 20, None).events == []
    with pytest.raises(InvalidRequest, match="repositoryId"):
        queries.list("not an id", 20, None)


def test_an_index_appends_requested_started_and_published() -> None:
    h = FreshnessHarness()
    sha = h.register()
    assert h.events.types(REPO_ID) == [
        EventType.INDEX_REQUESTED,
        EventType.INDEX_STARTED,
        EventType.GENERATION_PUBLISHED,
    ]
    newest = h.events.list(REPO_ID, 3).events
    published, started, requested = newest
    assert requested.data == {
        **{"sha": sha, "source": "api", "force": False},
        **{"branch": "main", "requestedAt": requested.at},  # for replays (ADR 23)
    }
    assert started.data["sha"] == sha and started.data["fence"] == 1
    assert published.data["sha"] == sha and published.data["fence"] == 1
    assert published.data["stats"] == {
        "totalFiles": 1,
        "totalSize": len("# Widgets\n"),
        "chunks": 1,
        "blobsParsed": 1,
        "blobsReused": 0,
        "chunksEmbedded": 0,
        # the rest of the item's stats, for replays (ADR 23)
        "languages": {"markdown": 1},
        "extensions": {".md": 1},
        "skipped": {},
        "vectorsReused": 0,
        "embeddingModel": None,
    }
    assert published.data["indexedAt"] == published.at


def test_a_failed_index_appends_index_failed_with_its_sha() -> None:
    h = FreshnessHarness()
    h.register()
    sha = h.git.commit(REMOTE, {"README.md": "# gone\n"})
    h.request()
    del h.git.remotes[REMOTE].commits[sha]  # the commit vanished before the fetch
    h.run()
    assert h.repo().status is Status.ERROR
    failed = h.events.list(REPO_ID, 1).events[0]
    assert failed.type == EventType.INDEX_FAILED
    assert failed.data == {
        "sha": sha,
        "error": f"commit {sha[:12]} is not on branch 'main'",
        "headSha": sha,  # the head SHA the item took (ADR 23)
    }
