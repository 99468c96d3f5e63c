"""Observability end to end on moto: the JSON log lines, EMF metrics and traces that real
index runs, webhook pushes and failing batches produce, and no secret in any of them.

The deployed functions log JSON (Settings.log_format in Lambda); these tests ask for it
explicitly, since the test process is not a Lambda function.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from chalicelib import bootstrap, observability
from chalicelib.domain.identity import parse_key
from chalicelib.errors import TransientError
from tests.e2e.conftest import Stack, with_settings
from tests.e2e.test_webhooks import SECRET, deliver, push, repo_path, secret  # noqa: F401
from tests.gitrepo import commit_files, init_repo

FILES = {
    "shop/cart.py": "class Cart:\n    def total(self):\n        return 0\n",
    "shop/items.py": "def item(name):\n    return name\n",
    "README.md": "# Shop\n",
    "docs/notes.md": "# Notes\n",
}


def json_lines(out: str) -> list[dict[str, Any]]:
    docs = []
    for line in out.splitlines():
        if line.startswith("{"):
            docs.append(json.loads(line))
    return docs


def log_lines(out: str) -> list[dict[str, Any]]:
    return [d for d in json_lines(out) if "level" in d and "message" in d]


def emf(out: str) -> list[dict[str, Any]]:
    return [d for d in json_lines(out) if "_aws" in d]


def named(docs: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    return [d for d in docs if metric in d]


def total(docs: list[dict[str, Any]], metric: str) -> float:
    """The sum of a metric's values over EMF documents (each holds a list of values)."""
    return sum(sum(d[metric]) for d in named(docs, metric))


def one(logs: list[dict[str, Any]], starts: str) -> dict[str, Any]:
    found = [line for line in logs if str(line["message"]).startswith(starts)]
    assert len(found) == 1, (starts, [line["message"] for line in logs])
    return found[0]


@pytest.fixture
def json_logs(stack: Stack) -> Stack:
    with_settings(stack, log_format="json", log_level="INFO")
    return stack


def test_json_log_lines_carry_request_repository_and_job_keys(
    json_logs: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = json_logs
    init_repo(tmp_path / "shop", FILES)
    capsys.readouterr()
    rid = stack.post("/repositories/index", {"url": str(tmp_path / "shop")}).json_body[
        "repositoryId"
    ]
    stack.pump.drain()
    assert stack.get(f"/repositories/{rid}/status").json_body["status"] == "ready"
    logs = log_lines(capsys.readouterr().out)
    assert logs and all(line["service"] == "strata" for line in logs)

    requested = one(logs, "index requested at")
    assert requested["name"] == "chalicelib.services.index_requests"
    assert requested["requestId"] and requested["route"] == "POST /repositories/index"
    assert requested["repositoryId"] == rid and "jobId" not in requested
    answered = one(logs, "POST /repositories/index answered 200")
    assert answered["requestId"] == requested["requestId"] and answered["keyId"]

    planned = one(logs, "planned 4 files")
    job = planned["jobId"]
    assert (planned["repositoryId"], planned["function_name"]) == (rid, "index_worker")
    assert planned["messageType"] == "IndexRepository" and planned["messageId"]
    assert planned["function_request_id"] and planned["generation"] >= 1
    batches = [line for line in logs if "blobs parsed" in str(line["message"])]
    assert len(batches) == 2  # 4 files in batches of 3
    for line in batches:
        assert (line["repositoryId"], line["jobId"], line["function_name"]) == (
            rid,
            job,
            "parse_worker",
        )
        assert line["messageType"] == "ParseBatch" and line["messageId"] != planned["messageId"]
    published = one(logs, "published generation")
    assert (published["jobId"], published["generation"]) == (job, planned["generation"])
    status = one(logs, "GET /repositories/{repository_id}/status answered 200")
    assert status["repositoryId"] == rid and "jobId" not in status  # no key outlives its work


def test_emf_metrics_of_an_index_run_and_a_pushed_commit(
    json_logs: Stack,
    repo_path: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = json_logs
    sha = commit_files(repo_path, {"widgets/gears.py": "def turn():\n    return 2\n"})
    capsys.readouterr()
    assert deliver(stack, "push", push(sha)).status_code == 202
    stack.pump.drain()
    docs = emf(capsys.readouterr().out)
    for doc in docs:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Strata"
        assert sorted(directive["Dimensions"][0]) == ["function", "service"]
        assert doc["service"] == "strata"
    (webhook,) = named(docs, "IndexRequests")
    assert webhook["function"] == "api_handler" and webhook["IndexRequests"] == [1.0]
    (published,) = named(docs, "IndexDuration")
    assert published["function"] == "index_worker" and published["IndexDuration"][0] >= 0
    assert 0 <= published["PushToQueryableLag"][0] < 300
    parsed = named(docs, "BlobsParsed")
    assert {d["function"] for d in parsed} == {"parse_worker"}
    assert (total(parsed, "BlobsParsed"), total(parsed, "BlobsReused")) == (1.0, 0.0)
    assert total(docs, "BatchFailures") == 0.0 and len(named(docs, "BatchFailures")) == 3


class FailingArtifacts:
    """The real blob store, except that writing an artifact fails as S3 throttling would."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        if key.startswith("blobs/"):
            raise TransientError("SlowDown, retry later")
        result: bool = self._inner.put(key, data, if_absent=if_absent)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_emf_counts_the_failed_records_of_a_batch(
    json_logs: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = json_logs
    init_repo(tmp_path / "shop", FILES)
    stack.post("/repositories/index", {"url": str(tmp_path / "shop")})
    stack.pump.poll("index")  # plans and stages two parse batches
    c = bootstrap.container()
    failing = replace(c.ports, blobs=FailingArtifacts(c.ports.blobs))
    bootstrap.configure(c.settings, replace(c, ports=failing))
    capsys.readouterr()
    assert stack.pump.poll("parse") == 2  # one Lambda batch holding both messages
    out = capsys.readouterr().out
    (doc,) = emf(out)
    assert (doc["function"], doc["BatchFailures"]) == ("parse_worker", [2.0])
    retried = [line for line in log_lines(out) if "will be retried" in str(line["message"])]
    assert len({line["messageId"] for line in retried}) == 2
    assert all(line["jobId"] and line["function_name"] == "parse_worker" for line in retried)


class Recorder(BaseProvider):
    """A tracing provider that records subsegment names and annotations (no X-Ray)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.annotations: dict[str, set[object]] = {}

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        self.names.append(str(name))
        yield None  # type: ignore[misc]  # Powertools types it; nothing reads it here

    def in_subsegment_async(  # type: ignore[override]  # never called: a sync test
        self, name: Any = None, **kwargs: Any
    ) -> AbstractContextManager[BaseSegment]:
        raise NotImplementedError

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations.setdefault(key, set()).add(value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        raise AssertionError("nothing is attached to a trace as metadata")

    def patch(self, modules: Any) -> None:
        raise AssertionError("a test tracer patches nothing")

    def patch_all(self) -> None:
        raise AssertionError("a test tracer patches nothing")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    provider = Recorder()
    observability.use_tracer(Tracer(provider=provider, disabled=False, auto_patch=False))
    try:
        yield provider
    finally:
        observability.use_tracer(None)
        Tracer._reset_config()  # type: ignore[no-untyped-call]  # shared across instances


def test_tracing_stays_off_in_tests(stack: Stack, tmp_path: Path) -> None:
    init_repo(tmp_path / "shop", FILES)
    stack.post("/repositories/index", {"url": str(tmp_path / "shop")})
    stack.pump.drain()
    assert bootstrap.telemetry().tracing is False
    assert not observability.tracing()  # no Tracer: nothing needs the X-Ray daemon


def test_traces_cover_handlers_records_and_adapters(
    stack: Stack, tmp_path: Path, recorder: Recorder
) -> None:
    init_repo(tmp_path / "shop", FILES)
    rid = stack.post("/repositories/index", {"url": str(tmp_path / "shop")}).json_body[
        "repositoryId"
    ]
    stack.pump.drain()
    names = set(recorder.names)
    assert {"## api_handler", "## index_worker", "## parse_worker", "## record"} <= names
    engine = "## chalicelib.adapters.pygit2_git_engine.Pygit2GitEngine"
    assert {f"{engine}.resolve_head", f"{engine}.fetch", f"{engine}.list_tree"} <= names
    assert recorder.annotations["ColdStart"] <= {True, False}
    assert recorder.annotations["route"] == {"POST /repositories/index"}
    assert {"IndexRepository", "ParseBatch", "FinalizeGeneration"} <= recorder.annotations[
        "messageType"
    ]
    assert recorder.annotations["repositoryId"] == {rid}
    assert len(recorder.annotations["jobId"]) == 1 and "messageId" not in recorder.annotations


def test_no_secret_reaches_a_log_line(
    stack: Stack,
    repo_path: Path,  # noqa: F811  (registered with the webhook secret set)
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server_token = "ghp_servertoken0000000000000000000000000"
    with_settings(stack, log_format="json", log_level="DEBUG", server_git_token=server_token)
    caplog.set_level(logging.DEBUG)
    init_repo(tmp_path / "shop", FILES)
    capsys.readouterr()
    created = stack.post("/keys", {"tenant": "acme", "scope": "index"}).json_body["key"]
    access_token = "ghp_accesstoken111111111111111111111111"
    body = {"url": str(tmp_path / "shop"), "accessToken": access_token}
    assert stack.call("POST", "/repositories/index", body, key=created).status_code == 200
    rid = f"local:{tmp_path / 'shop'}"
    stack.call("GET", f"/repositories/{rid}/status", key=created[:-1] + "x")  # wrong secret
    sha = commit_files(repo_path, {"widgets/more.py": "def more():\n    return 3\n"})
    assert deliver(stack, "push", push(sha)).status_code == 202
    assert deliver(stack, "push", push(sha), secret="a wrong secret").status_code == 401
    stack.pump.drain()
    out, err = capsys.readouterr()
    assert log_lines(out) and emf(out)  # the capture saw the JSON lines and the metrics
    secrets = [
        parse_key(created).secret,
        parse_key(stack.key).secret,
        access_token,
        SECRET,
        server_token,
    ]
    for text in secrets:
        assert text not in out and text not in err
        assert text not in caplog.text
        assert all(text not in str(r.args) for r in caplog.records)
