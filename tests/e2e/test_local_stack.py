"""The local stack end to end: moto's server, the Chalice app over real HTTP, worker pumps on
real SQS queues, snapshots across restarts. Repositories are real git repos in tmp_path."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from chalicelib.local.provision import load_resources
from chalicelib.local.pump import LambdaContext
from chalicelib.local.stack import LocalStack
from chalicelib.services.job_endings import RETRIES_EXHAUSTED
from tests.gitrepo import init_repo
from tests.localstack import (
    VISIBILITY_SECONDS,
    http,
    queue_messages,
    running_stack,
    sqs,
    status_of,
    wait_until,
    wait_until_indexed,
)

LEDGER_LINE = 97  # the only line that mentions the pomegranate ledger
LEDGER = "\n".join(
    "def reconcile_pomegranate_ledger(entries):  return sum(entries)"
    if n == LEDGER_LINE
    else f"VALUE_{n:03d} = {n}  # filler entry"
    for n in range(1, 121)
)
ORCHARD = {
    "README.md": "# Orchard\n\nOrchard tracks apple harvests per tree.\n",
    "orchard/harvest.py": (
        "def record_harvest(tree_id, kilograms):\n"
        '    """Record the apples picked from one tree."""\n'
        "    return {'tree': tree_id, 'kg': kilograms}\n"
    ),
    "orchard/ledger.py": LEDGER + "\n",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("state")) as running:
        yield running


@pytest.fixture(scope="module")
def orchard(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The orchard repository, indexed; its repository id."""
    path = tmp_path_factory.mktemp("repos") / "orchard"
    init_repo(path, ORCHARD)
    code, body = http(stack.api_url, "POST", "/repositories/index", {"url": str(path)})
    assert code == 200, body
    assert wait_until_indexed(stack, body["repositoryId"])["status"] == "ready"
    rid: str = body["repositoryId"]
    return rid


def test_serves_the_app_on_loopback(stack: LocalStack) -> None:
    assert stack.api_url.startswith("http://127.0.0.1:")
    assert stack.aws_url.startswith("http://127.0.0.1:")
    assert http(stack.api_url, "GET", "/health") == (200, {"status": "ok", "service": "strata"})
    assert (
        http(stack.api_url, "GET", "/nowhere")[0] == 403
    )  # what API Gateway answers for an unknown route


def test_status_goes_from_idle_through_indexing_to_ready(stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "seedlings"
    init_repo(path, {f"s{i}.py": f"def seedling_{i}():\n    return {i}\n" for i in range(7)})
    rid = "local:seedlings-" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    assert status_of(stack, rid)["status"] == "idle"

    code, body = http(stack.api_url, "POST", "/repositories/index", {"url": str(path)})
    assert (code, body["repositoryId"], body["status"]) == (200, rid, "indexing")
    seen: list[str] = []

    def ready() -> dict[str, Any] | None:
        status = status_of(stack, rid)
        seen.append(status["status"])
        return status if status["status"] == "ready" else None

    status = wait_until(ready, 60, "the seedlings to be ready")
    assert set(seen) <= {"indexing", "ready"}
    assert status["stats"]["totalFiles"] == 7
    assert status["progress"] == {"filesProcessed": 7, "numFiles": 7, "filesEmbedded": None}
    assert status["indexedSha"] == status["headSha"]


def test_search_hits_carry_the_lines_they_matched(stack: LocalStack, orchard: str) -> None:
    body = {"repositoryId": orchard, "query": "pomegranate ledger", "k": 3}
    code, found = http(stack.api_url, "POST", "/search", body)
    assert code == 200, found
    top = found["hits"][0]
    assert top["path"] == "orchard/ledger.py"
    start, end = top["lines"]
    assert start <= LEDGER_LINE <= end <= 120
    assert "pomegranate" in top["snippet"]
    lines = ORCHARD["orchard/ledger.py"].splitlines()[start - 1 : end]
    assert any("reconcile_pomegranate_ledger" in line for line in lines)


def test_chat_answers_with_verified_sources(stack: LocalStack, orchard: str) -> None:
    question = {"repositoryId": orchard, "question": "how is the pomegranate ledger reconciled?"}
    code, answer = http(stack.api_url, "POST", "/chat/query", question)
    assert code == 200, answer
    assert answer["response"] and answer["conversationId"]
    cited = {s["path"]: s["lines"] for s in answer["sources"]}
    start, end = cited["orchard/ledger.py"]
    assert start <= LEDGER_LINE <= end
    for source in answer["sources"]:
        text = ORCHARD[source["path"]].splitlines()
        assert 1 <= source["lines"][0] <= source["lines"][1] <= len(text)


def _break_git_cache(stack: LocalStack, repository: Path) -> None:
    """Put garbage where the git engine keeps its clone of `repository` (the cache layout
    documented in pygit2_git_engine): every fetch then fails with a TransientError."""
    remote = os.path.realpath(repository)
    clone = Path(stack.settings.git_cache_dir) / hashlib.sha256(remote.encode()).hexdigest()[:24]
    clone.mkdir(parents=True)
    (clone / "HEAD").write_text("this is not a git HEAD\n")


def test_a_failing_index_message_is_retried_then_its_dlq_consumer_ends_the_job(
    stack: LocalStack, tmp_path: Path
) -> None:
    path = tmp_path / "brittle"
    init_repo(path, {"a.py": "def a():\n    return 1\n"})
    _break_git_cache(stack, path)
    code, body = http(stack.api_url, "POST", "/repositories/index", {"url": str(path)})
    assert code == 200, body
    names = stack.settings.names
    # Five receives, VISIBILITY_SECONDS apart, then SQS moves the message on the sixth,
    # and the index DLQ's consumer ends the request in error.
    status = wait_until_indexed(stack, body["repositoryId"], timeout=60)
    assert (status["status"], status["indexedSha"]) == ("error", None)
    assert status["error"] == RETRIES_EXHAUSTED and str(tmp_path) not in status["error"]
    # The pump deletes the dead letter after its handler wrote the status (and after the
    # durable commit): the message may still be in flight for a moment.
    for queue in (names.queues["index"], names.dead_letter_queues["index"]):
        wait_until(partial(_empty, stack, queue), 10, f"{queue} to be empty")


def _empty(stack: LocalStack, queue: str) -> bool | None:
    return queue_messages(stack, queue) == 0 or None


def test_queues_take_the_local_visibility_timeout_and_keep_their_redrive(
    stack: LocalStack,
) -> None:
    client = sqs(stack)
    queues = load_resources()["queues"]
    for logical, name in stack.settings.names.queues.items():
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["VisibilityTimeout"] == str(VISIBILITY_SECONDS)
        redrive = queues[logical]["RedrivePolicy"]["maxReceiveCount"]  # 5; callbacks retry
        assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == redrive  # themselves
    assert stack.settings.lease_seconds < VISIBILITY_SECONDS  # a retry finds the lease free


def test_a_stopping_stack_leaves_running_handlers_no_time() -> None:
    stop = threading.Event()
    context = LambdaContext("index_worker", 900.0, stop=stop)
    assert context.get_remaining_time_in_millis() > 899_000
    stop.set()
    assert context.get_remaining_time_in_millis() == 0
