"""A transient failure of one record in an SQS batch, on the queues the deployed template
creates: the record stays on its queue while the rest of its batch is acknowledged, comes
back until the template's maxReceiveCount, then SQS moves it to the DLQ, whose consumer ends
the job. The dev stage's merged template is created in moto's CloudFormation
(tests/cfn_stack.py) and the app's own handlers (`app.handler_map`, what Lambda invokes)
run through the worker pump, which does what Lambda's event source mapping does with
ReportBatchItemFailures (tests/e2e/test_cloudformation_stack.py checks that every mapping
has it).

tests/e2e/test_worker_failures.py covers the same on queues made by the local provisioner
(one failing record in a batch; every record failing until the DLQ); this one ties the
behaviour to the template's RedrivePolicy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.errors import TransientError
from chalicelib.services.job_endings import RETRIES_EXHAUSTED
from infra.plan import RESOURCES_PATH, load_json
from tests.cfn_stack import create_skipped_secrets, create_stack, sam_template, to_cloudformation
from tests.e2e.conftest import Stack, admin_key, make_pump, settings_for
from tests.gitrepo import init_repo

MAX_RECEIVES = load_json(RESOURCES_PATH)["queues"]["parse"]["RedrivePolicy"]["maxReceiveCount"]


class FailingBatchReads:
    """The real S3 store, except that reading one parse batch's staged list times out."""

    def __init__(self, inner: Any, needle: str) -> None:
        self._inner = inner
        self._needle = needle
        self.failures = 0

    def get(self, key: str) -> bytes:
        if self._needle in key:
            self.failures += 1
            raise TransientError("RequestTimeout, retry later")
        data: bytes = self._inner.get(key)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def deployed_stack(tmp_path: Path) -> Iterator[Stack]:
    cfn = to_cloudformation(sam_template("dev", tmp_path / "template"), "strata-dev")
    with mock_aws():
        created = create_stack(cfn, tmp_path / "template", "strata-dev", {})
        create_skipped_secrets(cfn)
        # The pump stands in for the stack's event source mappings: moto's own, enabled,
        # would receive on every send and invoke the function in Docker (none here).
        lam = boto3.client("lambda")
        for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
            assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        settings = settings_for(tmp_path, "strata-dev", created.outputs["IndexBucketName"])
        bootstrap.configure(settings)
        from app import app

        sqs = boto3.client("sqs", region_name=settings.region)
        with Client(app) as client:
            yield Stack(client, make_pump(app, settings, sqs), settings, sqs, admin_key())
        bootstrap.reset()


def test_one_transient_record_is_retried_alone_then_dead_lettered_by_the_template_redrive(
    deployed_stack: Stack, tmp_path: Path
) -> None:
    stack = deployed_stack
    path = tmp_path / "repo"
    init_repo(path, {f"m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(4)})
    rid = stack.post("/repositories/index", {"url": str(path)}).json_body["repositoryId"]
    assert stack.pump.poll("index") == 1  # plan: 4 files in batches of 3 -> 2 parse messages
    c = bootstrap.container()
    flaky = FailingBatchReads(c.ports.blobs, "batch-000001")
    bootstrap.configure(c.settings, replace(c, ports=replace(c.ports, blobs=flaky)))
    names = stack.settings.names
    parse, parse_dlq = names.queues["parse"], names.dead_letter_queues["parse"]

    assert stack.pump.poll("parse") == 2  # both records in one event: one fails
    assert flaky.failures == 1
    assert (stack.queue_depth(parse), stack.queue_depth(parse_dlq)) == (1, 0)  # only it stays
    progress = stack.get(f"/repositories/{rid}/status").json_body["progress"]
    assert progress["filesProcessed"] == 3  # the rest of the batch was acknowledged

    while stack.pump.poll("parse"):  # redelivered until SQS gives up on it
        pass
    assert flaky.failures == MAX_RECEIVES == 5
    assert (stack.queue_depth(parse), stack.queue_depth(parse_dlq)) == (0, 1)
    url = stack.sqs.get_queue_url(QueueName=parse_dlq)["QueueUrl"]
    dead = stack.sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]
    assert json.loads(dead["Body"])["batch"] == 1
    assert stack.get(f"/repositories/{rid}/status").json_body["status"] == "indexing"

    assert stack.pump.poll("parse-dlq") == 1  # the DLQ consumer ends the job
    stack.pump.drain()
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert (status["status"], status["error"]) == ("error", RETRIES_EXHAUSTED)
