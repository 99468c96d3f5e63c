"""Parse invocations in worker processes (chalicelib/local/process_pool.py): handlers run in
other processes with the pump's deadline, failures come back as failures, a dead process is
replaced, and nothing outlives the pool or the stack."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.local.process_pool import HandlerFailed, HandlerPool
from chalicelib.local.pump import LambdaContext
from chalicelib.settings import Settings
from tests.gitrepo import init_repo
from tests.localstack import http, running_stack, wait_until, wait_until_indexed


@pytest.fixture
def pool() -> Iterator[HandlerPool]:
    pool = HandlerPool(2, Settings(resource_prefix="e2e-pool"), app_module="tests.e2e.pool_app")
    try:
        yield pool
    finally:
        pool.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_handlers_run_in_other_processes_with_the_pumps_deadline(pool: HandlerPool) -> None:
    context = LambdaContext("echo", 60.0)
    answers = [pool.invoke("echo", {"Records": [n]}, context) for n in range(4)]
    assert [a["event"] for a in answers] == [{"Records": [n]} for n in range(4)]
    assert os.getpid() not in {a["pid"] for a in answers}
    assert all(0 < a["remaining"] <= 60_000 for a in answers)


def test_a_failing_handler_fails_its_invocation(pool: HandlerPool) -> None:
    with pytest.raises(HandlerFailed, match="fail: KeyError"):
        pool.invoke("fail", {}, LambdaContext("fail", 60.0))
    assert pool.invoke("echo", {}, LambdaContext("echo", 60.0))["event"] == {}


def test_a_dead_process_fails_its_invocation_and_the_next_gets_a_fresh_pool(
    pool: HandlerPool,
) -> None:
    with pytest.raises(Exception, match="terminated abruptly"):
        pool.invoke("die", {}, LambdaContext("die", 60.0))
    assert pool.invoke("echo", {}, LambdaContext("echo", 60.0))["event"] == {}


def test_stopping_leaves_running_handlers_no_time_and_ends_every_process(
    pool: HandlerPool, tmp_path: Path
) -> None:
    pid = pool.invoke("echo", {}, LambdaContext("echo", 60.0))["pid"]
    started = tmp_path / "started"
    answer: list[int] = []

    def invoke() -> None:
        context = LambdaContext("wait_for_stop", 60.0)
        answer.append(pool.invoke("wait_for_stop", {"started": str(started)}, context))

    running = threading.Thread(target=invoke)
    running.start()
    wait_until(lambda: started.exists() or None, 60, "the handler to start")
    pool.close()
    running.join(30)
    assert answer == [0]
    assert not _alive(pid)
    with pytest.raises(RuntimeError, match="stopped"):
        pool.invoke("echo", {}, LambdaContext("echo", 60.0))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the stack parses in threads")
def test_the_stack_parses_in_worker_processes_and_stops_them(tmp_path: Path) -> None:
    before = set(multiprocessing.active_children())
    files = {f"pkg/module_{n}.py": f"def handler_{n}(event):\n    return {n}\n" for n in range(7)}
    init_repo(tmp_path / "repo", files)
    with running_stack(tmp_path / "state") as stack:
        assert stack.options.processes == {"parse": os.cpu_count(), "embed": 1}
        url = str(tmp_path / "repo")
        code, body = http(stack.api_url, "POST", "/repositories/index", {"url": url})
        assert code == 200, body
        status = wait_until_indexed(stack, body["repositoryId"])
        assert (status["status"], status["stats"]["totalFiles"]) == ("ready", 7)
        workers = set(multiprocessing.active_children()) - before
        assert workers  # the parse batches (3 files each) ran in worker processes
    assert not any(w.is_alive() for w in workers)
    assert set(multiprocessing.active_children()) <= before
