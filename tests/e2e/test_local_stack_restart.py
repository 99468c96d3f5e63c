"""The local stack keeps its state across restarts: snapshots on stop, restores on start.

A module of its own: moto's state is process-wide, so one stack runs at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.local.admin_key import provide_admin_key
from chalicelib.local.serve import DEMO_QUERY, announce
from chalicelib.local.stack import LocalStack, StackOptions
from tests.gitrepo import init_repo
from tests.localstack import (
    ADMIN_KEY,
    http,
    queue_messages,
    running_stack,
    status_of,
    wait_until_indexed,
)


def test_work_in_flight_and_indexes_survive_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = tmp_path / "grove"
    init_repo(path, {"grove/walnut.py": "def crack_walnut_shell():\n    return 'kernel'\n"})
    # 1. No workers: the request is queued, then the stack stops with it in flight.
    with running_stack(state, workers={}) as first:
        rid = http(first.api_url, "POST", "/repositories/index", {"url": str(path)})[1][
            "repositoryId"
        ]
        assert status_of(first, rid)["status"] == "indexing"
    assert first.saved is not None and first.saved.messages == 1
    # 2. The restored message is worked off: the repository becomes ready.
    with running_stack(state) as second:
        assert second.restored is not None and second.restored.messages == 1
        indexed = wait_until_indexed(second, rid)
        assert indexed["status"] == "ready"
    # 3. Ready at once after another restart, without any indexing work.
    with running_stack(state) as third:
        status = status_of(third, rid)
        assert status["status"] == "ready"
        assert status["indexedAt"] == indexed["indexedAt"]
        assert queue_messages(third, third.settings.names.queues["index"]) == 0
        body = {"repositoryId": rid, "query": "walnut shell"}
        code, found = http(third.api_url, "POST", "/search", body)
        assert code == 200 and found["hits"][0]["path"] == "grove/walnut.py"


def test_one_stack_per_process(tmp_path: Path) -> None:
    second = LocalStack(StackOptions(state_dir=tmp_path / "b", port=0))
    with (
        running_stack(tmp_path / "a"),
        pytest.raises(RuntimeError, match="already running in this process"),
    ):
        second.start()


def test_only_a_first_start_offers_the_demonstration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    with running_stack(state, workers={}) as first:
        announce(first, demo=True, admin=provide_admin_key(state, ADMIN_KEY))
        out = capsys.readouterr().out
        assert f"Strata API on {first.api_url} (embedded AWS on {first.aws_url})" in out
        demo = status_of(first, out.split("strata status ")[1].split()[0])
        assert demo["repositoryId"].startswith("local:") and demo["status"] == "indexing"
        assert f'strata search {demo["repositoryId"]} "{DEMO_QUERY}"' in out
    with running_stack(state, workers={}) as second:
        announce(second, demo=True, admin=provide_admin_key(state, ADMIN_KEY))
        out = capsys.readouterr().out
        assert "Restored" in out and "strata search" not in out
        assert ADMIN_KEY not in out  # a given key is never printed
