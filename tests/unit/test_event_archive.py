"""The events archive's pure parts: rows, partitions, times, and the read-model fold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.event_archive import (
    PREFIX,
    day_in_key,
    days_to_compact,
    event_from_row,
    event_row,
    file_name,
    group_by_partition,
    parse_instant,
    partition_prefix,
    partition_value,
    repository_of,
)
from chalicelib.domain.event_replay import INDEX_UP_TO_DATE, ReadModel, fold, read_model
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.models import Stats, Status
from chalicelib.errors import InvalidRequest

RID = "github:acme:widgets"
T0 = 1_764_900_000.0  # 2025-12-05T02:00:00Z


def ev(
    n: int, type: str, data: dict[str, object], rid: str = RID, at: float | None = None
) -> Event:
    when = T0 + n if at is None else at
    return Event(rid, f"{int(when * 1000):015d}#{n:020x}", type, when, data, None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
typed_names = st.sampled_from(["sha", "jobId", "fence", "error", "force", "headSha", "other"])


@given(st.dictionaries(typed_names | st.text(max_size=6), json_values, max_size=6))
def test_a_row_round_trips_any_event_data_exactly(data: dict[str, object]) -> None:
    event = Event(RID, "001764900000000#00000000000000000001", "X", T0 + 0.123, data, "sweep")
    assert event_from_row(event_row(event)) == event


def test_known_fields_are_typed_columns_and_the_rest_is_json() -> None:
    stats = {"totalFiles": 3, "totalSize": 10, "chunks": 4, "languages": {"python": 3}}
    row = event_row(ev(1, "GenerationPublished", {"sha": "a" * 40, "fence": 7, "stats": stats}))
    assert (row["sha"], row["fence"], row["stats_total_files"], row["stats_chunks"]) == (
        "a" * 40,
        7,
        3,
        4,
    )
    assert row["data"] == '{"stats":{"languages":{"python":3}}}'
    assert row["force"] is None  # a bool column holds only bools; True in "fence" would not type
    odd = event_row(ev(2, "X", {"fence": True, "sha": None}))
    assert odd["fence"] is None and odd["sha"] is None
    assert event_from_row(odd).data == {"fence": True, "sha": None}


@pytest.mark.parametrize(
    "hostile",
    ["a/b", "../../etc", "x=y/date=1999-01-01", "%2e%2e", "a\\b", "spaced id", "ünï", "a\0b"],
)
def test_a_hostile_repository_id_stays_one_escaped_path_segment(hostile: str) -> None:
    value = partition_value(hostile)
    assert "/" not in value and "=" not in value and "\\" not in value and " " not in value
    assert repository_of(value) == hostile
    prefix = partition_prefix("2026-01-02", hostile)
    assert prefix.startswith(PREFIX + "date=2026-01-02/repository=")
    assert prefix.count("/") == 3  # events/, date=, repository=: nothing more
    assert day_in_key(prefix + "part-x.parquet") == "2026-01-02"


def test_a_plain_id_is_kept_as_it_is_for_athena() -> None:
    assert partition_value(RID) == RID


@pytest.mark.parametrize("bad", ["", ".", "..", "...", "x" * 301])
def test_what_cannot_be_an_id_is_refused_as_a_partition(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="archived repository id"):
        partition_value(bad)


def test_a_partition_day_must_be_a_day() -> None:
    with pytest.raises(InvalidRequest, match="YYYY-MM-DD"):
        partition_prefix("2026-01-02/../x", RID)


def test_file_names_follow_the_ids_not_their_order() -> None:
    assert file_name(["b", "a"]) == file_name(["a", "b"]) != file_name(["a"])


def test_grouping_splits_by_day_and_repository_and_drops_repeated_ids() -> None:
    a, b = ev(1, "X", {}), ev(2, "X", {}, rid="git:other")
    late = ev(3, "X", {}, at=T0 + 86_400)
    groups = group_by_partition([late, a, b, a, b])
    assert groups == {
        ("2025-12-05", RID): [a],
        ("2025-12-05", "git:other"): [b],
        ("2025-12-06", RID): [late],
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-12-05T02:00:00Z", T0),
        ("2025-12-05T03:00:00+01:00", T0),
        ("2025-12-05T02:00:00", T0),  # naive: UTC
        ("1764900000", T0),
        ("1764900000000", T0),  # milliseconds
        ("1764900000.5", T0 + 0.5),
        ("2025-12-05", T0 - 7200),
    ],
)
def test_times_read_as_iso_8601_or_epoch(raw: str, expected: float) -> None:
    assert parse_instant(raw) == expected


@pytest.mark.parametrize(
    "bad", ["", "yesterday", "2025-13-01", "1e9", "-5", "12:00", "x" * 41, None]
)
def test_anything_else_is_not_a_time(bad: object) -> None:
    with pytest.raises(InvalidRequest, match="at must"):
        parse_instant(bad)


def _flow() -> list[Event]:
    stats = Stats(total_files=2, total_size=30, chunks=5).to_public()
    return [
        ev(1, EventType.INDEX_REQUESTED, {"sha": "s1", "branch": "main", "requestedAt": T0 + 0.5}),
        ev(2, EventType.INDEX_STARTED, {"sha": "s1", "numFiles": 2, "filesProcessed": 0}),
        ev(3, EventType.GENERATION_PUBLISHED, {"sha": "s1", "fence": 1, "stats": stats}),
        ev(4, EventType.INDEX_REQUESTED, {"sha": "s2"}),
        ev(5, EventType.INDEX_FAILED, {"sha": "s2", "error": "boom", "headSha": "s3"}),
    ]


def test_the_fold_rebuilds_status_shas_lag_fields_and_error_at_each_time() -> None:
    events = _flow()
    assert RID not in fold(events, until=T0 + 0.9)  # nothing yet
    ready = fold(events, until=T0 + 3.5)[RID]
    assert (ready.status, ready.indexed_sha, ready.head_sha, ready.fence) == (
        Status.READY,
        "s1",
        "s1",
        1,
    )
    assert (ready.requested_at, ready.indexed_at, ready.branch) == (T0 + 0.5, T0 + 3, "main")
    assert ready.stats.total_size == 30 and ready.files_processed == 2
    failed = fold(list(reversed(events)) * 2)[RID]  # any order, any repeats
    assert (failed.status, failed.error, failed.head_sha, failed.indexed_sha) == (
        Status.ERROR,
        "boom",
        "s3",
        "s1",
    )
    assert failed.requested_at == T0 + 4  # no requestedAt: the event's own time


def test_a_failure_recorded_only_and_an_unknown_type_change_nothing() -> None:
    events = [*_flow()[:3], ev(4, EventType.INDEX_FAILED, {"error": "x", "marked": False})]
    events.append(ev(5, "CheckFinished", {"status": "passed"}))
    assert fold(events)[RID].status is Status.READY


def test_up_to_date_and_a_dropped_branch() -> None:
    events = [*_flow()[:3], ev(4, EventType.INDEX_REQUESTED, {"sha": "s1"})]
    assert fold([*events, ev(5, INDEX_UP_TO_DATE, {"sha": "s1"})])[RID].status is Status.READY
    dropped = fold([*events, ev(5, EventType.BRANCH_DELETED, {"indexDropped": True})])[RID]
    assert dropped == ReadModel(RID, branch="main", requested_at=T0 + 4, num_files=2,
                                files_processed=2)  # fmt: skip
    kept = fold([*events, ev(5, EventType.BRANCH_DELETED, {"indexDropped": False})])[RID]
    assert kept.status is Status.INDEXING


def test_a_read_model_projects_back_onto_a_repository_and_from_it() -> None:
    model = fold(_flow())[RID]
    assert read_model(model.repository()) == model


def test_the_days_to_merge_run_from_after_the_last_merged_to_before_today() -> None:
    assert days_to_compact(None, None, "2026-01-03") == []  # an empty archive
    assert days_to_compact("2026-01-01", None, "2026-01-03") == ["2026-01-01", "2026-01-02"]
    assert days_to_compact("2026-01-01", "2026-01-01", "2026-01-03") == ["2026-01-02"]
    assert days_to_compact("2026-01-01", "2026-01-02", "2026-01-03") == []  # today stays open
