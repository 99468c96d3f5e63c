"""The events archive end to end (chalice.test.Client on moto, real git): repositories are
indexed, reindexed and fail; the scheduled archiver writes the archive; `strata events
replay` rebuilds the read models from the archive alone into an empty table, equal to the
live table; `strata events query` reads the same files; `status?at=` answers the past."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib import bootstrap
from chalicelib.adapters.dynamo_event_feed import DynamoReadModelStore
from chalicelib.domain.event_replay import read_model
from chalicelib.local import cli
from tests.e2e.conftest import Stack, with_settings
from tests.e2e.test_api_keys import make_key
from tests.gitrepo import commit_files, init_repo

FILES = {"app/main.py": "def main():\n    return 1\n", "README.md": "# demo\n"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def index(stack: Stack, path: Path) -> str:
    resp = stack.post("/repositories/index", {"url": str(path)})
    assert resp.status_code == 200, resp.body
    rid: str = resp.json_body["repositoryId"]
    return rid


def status(stack: Stack, rid: str, at: str | None = None, key: str | None = None) -> dict:  # type: ignore[type-arg]
    query = f"?at={at}" if at is not None else ""
    resp = stack.call("GET", f"/repositories/{rid}/status{query}", key=key or stack.key)
    assert resp.status_code == 200, resp.body
    body: dict = resp.json_body  # type: ignore[type-arg]
    return body


@dataclass
class History:
    ready: str  # indexed, then reindexed at a new commit
    failed: str  # its remote vanished before its index ran
    first_sha: str
    between: float  # after the first generation of `ready`, before its second
    before: float  # before anything


@pytest.fixture
def history(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> History:
    with_settings(stack, archive_settle_seconds=0.0)
    monkeypatch.setenv("STRATA_RESOURCE_PREFIX", stack.settings.resource_prefix)
    before = time.time() - 1
    init_repo(tmp_path / "one", FILES)
    init_repo(tmp_path / "two", FILES)
    ready, failed = index(stack, tmp_path / "one"), index(stack, tmp_path / "two")
    shutil.rmtree(tmp_path / "two")  # its fetch fails: the index ends in error
    stack.pump.drain()
    first = status(stack, ready)["indexedSha"]
    time.sleep(0.01)
    between = time.time()
    time.sleep(0.01)
    commit_files(tmp_path / "one", {"app/extra.py": "X = 2\n"})
    index(stack, tmp_path / "one")
    stack.pump.drain()
    assert status(stack, ready)["status"] == "ready"
    assert status(stack, failed)["status"] == "error"
    return History(ready, failed, first, between, before)


def archive(client: Client) -> dict:  # type: ignore[type-arg]
    """The scheduled archiver, invoked as EventBridge would."""
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    report: dict = client.lambda_.invoke("events_archiver", event).payload  # type: ignore[type-arg]
    return report


def test_archive_replay_query_and_status_at_after_real_index_flows(
    stack: Stack, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    # One flow for every check: an index run takes seconds, a fixture per test would not.
    unarchived = status(stack, history.ready, iso(history.between))  # from the table alone
    assert (unarchived["status"], unarchived["indexedSha"]) == ("ready", history.first_sha)

    report = archive(stack.client)
    assert report["written"] == report["events"] == 8 and report["duplicates"] == 0
    assert archive(stack.client)["written"] == 0  # the next run: nothing new
    check_replay(stack, history, capsys)
    check_query(history, capsys)
    check_status_at(stack, history)
    check_bad_times(stack, history.ready)


def check_replay(stack: Stack, history: History, capsys: pytest.CaptureFixture[str]) -> None:
    table = f"{stack.settings.resource_prefix}-replay-test"
    code = cli.main(["events", "replay", "--to", iso(time.time() + 1), "--table", table, "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["repositories"] == 2
    rebuilt = {
        m.repository_id: m for m in DynamoReadModelStore(table, stack.settings.region, None).all()
    }
    repos = bootstrap.repo_store()
    live = {rid: read_model(repos.get(rid)) for rid in (history.ready, history.failed)}  # type: ignore[arg-type]
    assert rebuilt == live
    assert live[history.failed].error and live[history.ready].indexed_sha != history.first_sha
    again = cli.main(["events", "replay", "--to", iso(time.time()), "--table", table])
    assert again == 1 and "not empty" in capsys.readouterr().err


def check_query(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT type, count(*) AS n FROM events WHERE repository_id = '%s' GROUP BY type"
    assert cli.main(["events", "query", sql % history.failed, "--json"]) == 0
    counts = {r["type"]: r["n"] for r in json.loads(capsys.readouterr().out)}
    assert counts == {"IndexRequested": 1, "IndexFailed": 1}
    assert cli.main(["events", "query", "SELECT nonsense FROM"]) == 1
    assert "query failed" in capsys.readouterr().err


def check_status_at(stack: Stack, history: History) -> None:
    then = status(stack, history.ready, iso(history.between))
    assert (then["status"], then["indexedSha"]) == ("ready", history.first_sha)
    now = status(stack, history.ready)
    assert now["indexedSha"] != history.first_sha
    later = status(stack, history.ready, f"{time.time() + 5:.3f}")  # epoch seconds
    assert later["indexedSha"] == now["indexedSha"]
    failed_then = status(stack, history.failed, iso(history.between))
    assert failed_then["status"] == "error" and failed_then["indexedSha"] is None
    assert failed_then["error"] == status(stack, history.failed)["error"]
    nothing = status(stack, history.ready, str(int(history.before)))
    assert (nothing["status"], nothing["indexedSha"]) == ("idle", None)
    # Tenancy as today: a tenant that did not register it sees an unknown repository.
    stranger = make_key(stack, "read", "bravo")
    for at in (None, iso(history.between)):
        seen = status(stack, history.ready, at, key=stranger)
        assert (seen["status"], seen["indexedSha"], seen["stats"]["totalFiles"]) == (
            "idle",
            None,
            0,
        )


def check_bad_times(stack: Stack, rid: str) -> None:
    for bad in ("yesterday", "2026-02-30T00:00:00Z", "-1", "1e9", "x" * 41):
        resp = stack.get(f"/repositories/{rid}/status?at={bad}")
        assert resp.status_code == 400, (bad, resp.body)
        assert resp.json_body["error"]["message"].startswith("at "), resp.json_body
