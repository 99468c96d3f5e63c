"""Every job ends, end to end on moto: repositories a retry cannot fix fail at once with a
message for users (reproducer 5), and a message that exhausts its retries on any queue lands
in its DLQ, whose consumer ends the job in `error` and frees the lease for the next request.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pygit2
import pytest

from chalicelib import bootstrap
from chalicelib.errors import TransientError
from chalicelib.services.job_endings import RETRIES_EXHAUSTED
from tests.e2e.conftest import Stack
from tests.fakes.models import FakeEmbedder
from tests.gitrepo import commit_files, init_repo

FILES = {f"pkg/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(4)}
MAIN_QUEUES = ("index", "parse", "embed")


def index(stack: Stack, path: Path) -> str:
    resp = stack.post("/repositories/index", {"url": str(path)})
    assert resp.status_code == 200, resp.body
    rid: str = resp.json_body["repositoryId"]
    return rid


def status(stack: Stack, rid: str) -> dict[str, Any]:
    body: dict[str, Any] = stack.get(f"/repositories/{rid}/status").json_body
    return body


def events(stack: Stack, rid: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = stack.get(f"/repositories/{rid}/events").json_body["events"]
    return listed


def pump_main_queues(stack: Stack) -> int:
    """Run the workers until the work queues are empty, leaving the DLQs alone."""
    total = 0
    for _ in range(1000):
        got = sum(stack.pump.poll(q) for q in MAIN_QUEUES)
        if got == 0:
            return total
        total += got
    raise AssertionError("the work queues did not drain")


def depth(stack: Stack, queue: str) -> int:
    names = stack.settings.names
    physical = (
        names.dead_letter_queues[queue[:-4]] if queue.endswith("-dlq") else names.queues[queue]
    )
    return stack.queue_depth(physical)


def assert_ended_in_error(stack: Stack, rid: str, message: str, tmp_path: Path) -> None:
    state = status(stack, rid)
    assert (state["status"], state["error"]) == ("error", message), state
    assert str(tmp_path) not in message
    failed = events(stack, rid)[0]
    assert (failed["type"], failed["data"]["error"]) == ("IndexFailed", message)
    chat = stack.post("/chat/query", {"repositoryId": rid, "question": "anything?"})
    assert chat.status_code == 400 and chat.json_body["status"] == "error"  # not 202 for ever
    lease = bootstrap.container().ports.locks.get(rid)
    assert lease is None or lease.owner == ""
    assert all(depth(stack, q) == 0 for q in (*MAIN_QUEUES, "index-dlq", "parse-dlq", "embed-dlq"))


# Reproducer 5: permanent conditions fail at once, without retries or the DLQ


def test_a_shallow_clone_fails_at_once_with_a_clear_message(stack: Stack, tmp_path: Path) -> None:
    init_repo(tmp_path / "full", FILES)
    commit_files(tmp_path / "full", {"pkg/m0.py": "def f0():\n    return 10\n"})
    shallow = tmp_path / "shallow"
    clone = ["git", "clone", "-q", "--depth", "1", f"file://{tmp_path / 'full'}", str(shallow)]
    subprocess.run(clone, check=True, capture_output=True)
    rid = index(stack, shallow)

    assert pump_main_queues(stack) == 1  # one delivery: no retry, nothing in the DLQ

    message = "the repository is a shallow clone; Strata needs its full history"
    assert_ended_in_error(stack, rid, message, tmp_path)
    again = stack.post("/repositories/index", {"url": str(shallow)})
    assert again.json_body["status"] == "indexing"  # a new request starts afresh ...
    assert pump_main_queues(stack) == 1
    assert status(stack, rid)["status"] == "error"  # ... and ends at once again
    subprocess.run(["git", "-C", str(shallow), "fetch", "-q", "--unshallow"], check=True)
    index(stack, shallow)
    stack.pump.drain()
    assert status(stack, rid)["status"] == "ready"


def test_a_repository_missing_a_blob_fails_at_once_with_a_clear_message(
    stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "broken"
    init_repo(path, {**FILES, "lost.py": "LOST = True\n"})
    oid = str(pygit2.hash(b"LOST = True\n"))
    (path / ".git" / "objects" / oid[:2] / oid[2:]).unlink()
    rid = index(stack, path)

    assert pump_main_queues(stack) == 1

    message = "the repository is missing objects (is it corrupt, shallow or a partial clone?)"
    assert_ended_in_error(stack, rid, message, tmp_path)


# A message that exhausts its retries, on each queue


class BrokenFetch:
    """The real git engine, except that fetching times out, every time."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def fetch(self, *args: Any, **kwargs: Any) -> None:
        raise TransientError("the remote timed out")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class BrokenArtifactWrites:
    """The real S3 store, except that writing parse artifacts is throttled, every time."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        if key.startswith("blobs/"):
            raise TransientError("SlowDown")
        result: bool = self._inner.put(key, data, if_absent=if_absent)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def broken_embedder() -> FakeEmbedder:
    embedder = FakeEmbedder()
    embedder.fail_next = 10**6
    return embedder


def configure_ports(**changes: Callable[[Any], Any]) -> bootstrap.Container:
    """Use a composition root with some ports replaced (same settings, same moto)."""
    c = bootstrap.container()
    ports = replace(
        c.ports, **{name: make(getattr(c.ports, name)) for name, make in changes.items()}
    )
    changed = replace(c, ports=ports)
    bootstrap.configure(c.settings, changed)
    return changed


FAULTS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "index": {"git": BrokenFetch},
    "parse": {"blobs": BrokenArtifactWrites},
    "embed": {"embedder": lambda _: broken_embedder()},
}


@pytest.mark.parametrize("queue", FAULTS)
def test_a_message_that_exhausts_its_retries_ends_its_job_in_error(
    stack: Stack, tmp_path: Path, queue: str
) -> None:
    path = tmp_path / "repo"
    sha = init_repo(path, FILES)
    healthy = configure_ports(embedder=lambda _: FakeEmbedder())  # every run embeds
    rid = index(stack, path)
    configure_ports(**FAULTS[queue])

    pump_main_queues(stack)  # five receives each, then SQS moves the message on
    assert depth(stack, f"{queue}-dlq") >= 1
    assert status(stack, rid)["status"] == "indexing"  # what reproducer 5 showed for ever

    assert stack.pump.poll(f"{queue}-dlq") >= 1  # the DLQ consumer
    pump_main_queues(stack)
    while stack.pump.poll(f"{queue}-dlq"):
        pass

    assert_ended_in_error(stack, rid, RETRIES_EXHAUSTED, tmp_path)
    assert events(stack, rid)[0]["data"]["sha"] == sha
    bootstrap.configure(stack.settings, healthy)  # the fault clears
    assert stack.post("/repositories/index", {"url": str(path)}).json_body["status"] == "indexing"
    stack.pump.drain()
    final = status(stack, rid)
    assert (final["status"], final["indexedSha"], final["error"]) == ("ready", sha, None)
