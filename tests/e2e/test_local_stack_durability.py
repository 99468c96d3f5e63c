"""What the local stack acknowledged survives `kill -9`: `strata serve` in a subprocess on free
ports and a state dir under tmp_path, killed with SIGKILL and started again on the same dir.
Also: the pump deletes only what is on disk, and an answer the state could not back is 503."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from chalicelib.client.transport import exchange
from chalicelib.local.durability import PersistFailed
from chalicelib.local.pump import Route, WorkerPump
from tests.e2e.conftest import Stack
from tests.gitrepo import init_repo
from tests.localstack import http, running_stack, wait_until

ROOT = Path(__file__).resolve().parents[2]
GROVE = {
    "grove/walnut.py": "def crack_walnut_shell():\n    return 'kernel'\n",
    "grove/hazel.py": "def roast_hazelnuts(tray):\n    return sorted(tray)\n",
    "README.md": "# Grove\n\nNuts, cracked and roasted.\n",
}
# Work in flight at the kill comes back after its visibility timeout (4 s; lease 2 s).
VISIBILITY = ("--visibility-timeout", "4")
_LISTENING = re.compile(r"Strata API on (\S+) \(embedded AWS on (\S+)\)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Serve:
    """`strata serve --no-demo` as a subprocess; `api` and `aws` once it listens."""

    def __init__(self, state: Path) -> None:
        env = {
            **os.environ,
            "STRATA_EMBEDDER": "none",
            "STRATA_RATE_BURST": "100000",  # the status polls; the limit has tests of its own
            "STRATA_STATE_DIR": str(state),
            "STRATA_LOCAL_ROOTS": str(state.parent),  # the tests' repositories
            "STRATA_PORT": str(_free_port()),
            "STRATA_AWS_PORT": "0",
            "STRATA_WS_PORT": "0",  # not STRATA_PORT + 1, which another server may hold
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.cli", "serve", "--no-demo", *VISIBILITY],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.api, self.aws = self._listening()
        self.key = (state / "api-key").read_text().strip()  # the admin key serve made

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        return exchange(self.api, method, path, body, timeout=30, api_key=self.key)

    def _listening(self) -> tuple[str, str]:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # ends if the process dies before listening
            match = _LISTENING.search(line)
            if match:
                return match.group(1), match.group(2)
        raise AssertionError(f"strata serve exited with {self.process.wait()} before listening")

    def status(self, rid: str) -> dict[str, Any]:
        code, body = self.call("GET", f"/repositories/{rid}/status")
        assert code == 200, body
        result: dict[str, Any] = body
        return result

    def queued(self) -> int:
        """Messages in the work queues, visible or in flight."""
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=self.aws)
        total = 0
        for url in sqs.list_queues().get("QueueUrls", []):
            if url.endswith("-dlq"):
                continue
            attrs = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            total += sum(int(v) for v in attrs.values())
        return total

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def serving(state: Path) -> Iterator[Serve]:
    server = Serve(state)
    try:
        yield server
    finally:
        server.close()


def _index(server: Serve, path: Path) -> str:
    code, body = server.call("POST", "/repositories/index", {"url": str(path)})
    assert (code, body["status"]) == (200, "indexing"), body
    rid: str = body["repositoryId"]
    return rid


def _finished(server: Serve, rid: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status = server.status(rid)
        return status if status["status"] in ("ready", "error") else None

    return wait_until(done, 60, f"{rid} to finish indexing")


def test_kill_9_after_ready_restarts_ready_at_the_same_sha(tmp_path: Path) -> None:
    sha = init_repo(tmp_path / "grove", GROVE)
    state = tmp_path / "state"
    with serving(state) as first:
        rid = _index(first, tmp_path / "grove")
        assert _finished(first, rid)["status"] == "ready"
        wait_until(lambda: first.queued() == 0 or None, 30, "the queues to empty")
        # A 2xx answer to a POST: everything done before it, the last deletes included, is
        # on disk, so nothing is redone after the restart.
        body = {"repositoryId": rid, "query": "roast hazelnuts"}
        assert first.call("POST", "/search", body)[0] == 200
        first.kill()
    with serving(state) as second:
        status = second.status(rid)  # at once: nothing was redone
        assert (status["status"], status["indexedSha"]) == ("ready", sha)
        body = {"repositoryId": rid, "query": "crack walnut shell"}
        code, found = second.call("POST", "/search", body)
        assert code == 200, found
        assert found["hits"][0]["path"] == "grove/walnut.py"


def test_kill_9_after_an_acknowledged_index_request_resumes_the_work(tmp_path: Path) -> None:
    sha = init_repo(tmp_path / "grove", GROVE)
    state = tmp_path / "state"
    with serving(state) as first:
        rid = _index(first, tmp_path / "grove")
        first.kill()  # acknowledged, and nowhere near done
    with serving(state) as second:
        assert second.status(rid)["status"] == "indexing"  # the request survived
        status = _finished(second, rid)
        assert (status["status"], status["indexedSha"]) == ("ready", sha)


def _index_route(stack: Stack, handler: Any) -> dict[str, Route]:
    url = stack.sqs.get_queue_url(QueueName=stack.settings.names.queues["index"])["QueueUrl"]
    return {"index": Route(url, "arn:aws:sqs:us-east-1:123456789012:index", handler, "index")}


def test_the_pump_deletes_a_message_only_once_its_effects_are_on_disk(stack: Stack) -> None:
    handled: list[str] = []
    queued_at_persist: list[int] = []
    saving = {"works": False}
    index_queue = stack.settings.names.queues["index"]

    def persist() -> None:
        queued_at_persist.append(stack.queue_depth(index_queue))
        if not saving["works"]:
            raise PersistFailed("disk full")

    def handler(event: dict[str, Any], context: Any) -> None:
        handled.extend(r["body"] for r in event["Records"])

    routes = _index_route(stack, handler)
    pump = WorkerPump(stack.sqs, routes, "us-east-1", before_ack=persist)
    stack.sqs.send_message(QueueUrl=routes["index"].queue_url, MessageBody="plan grove")
    assert pump.poll("index") == 1
    assert stack.queue_depth(index_queue) == 1  # not saved: not deleted, SQS redelivers
    saving["works"] = True
    stack.sqs.send_message(QueueUrl=routes["index"].queue_url, MessageBody="plan orchard")
    assert pump.poll("index") == 1
    assert handled == ["plan grove", "plan orchard"]
    assert queued_at_persist == [1, 2]  # each persist ran before its delete
    assert stack.queue_depth(index_queue) == 1  # orchard's is gone, grove's awaits redelivery


def test_an_answer_the_state_cannot_back_is_503(tmp_path: Path) -> None:
    path = tmp_path / "grove"
    init_repo(path, GROVE)
    with running_stack(tmp_path / "state", workers={}, save_on_stop=False) as stack:
        store = tmp_path / "state" / "aws"
        for entry in store.iterdir():
            entry.unlink()
        store.rmdir()  # every commit fails from now on
        code, answer = http(stack.api_url, "POST", "/repositories/index", {"url": str(path)})
        assert code == 503, answer
        assert http(stack.api_url, "GET", "/health")[0] == 200  # reads are still answered
