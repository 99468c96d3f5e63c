"""Embeddings end to end with the real local model (all-MiniLM-L6-v2 from its wheel): the
embed queue, vector objects, semantic and hybrid search through the API, embed worker failures.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from chalicelib.settings import Settings
from tests.e2e.conftest import Stack
from tests.e2e.test_every_job_ends import pump_main_queues
from tests.e2e.test_worker_failures import FlakyBlobStore, _inject
from tests.gitrepo import init_repo

FILES = {
    "net/urls.py": (
        "from urllib.parse import urlsplit\n\n\n"
        "def split_address(address):\n"
        '    """Break a web address into scheme, host and path."""\n'
        "    parts = urlsplit(address)\n"
        "    return parts.scheme, parts.hostname, parts.path\n"
    ),
    "kitchen/bread.py": (
        "def bake(flour, water, yeast):\n"
        '    """Mix the dough, let it rise, and bake the loaf."""\n'
        "    dough = knead(flour + water + yeast)\n"
        "    return oven(dough, minutes=40)\n"
    ),
    "tests/test_urls.py": (
        "from net.urls import split_address\n\n\n"
        "def test_split_address():\n"
        "    assert split_address('https://example.com/a')[1] == 'example.com'\n"
    ),
}


@pytest.fixture
def e2e_settings(e2e_settings: Settings) -> Settings:
    return replace(e2e_settings, embedder="minilm")


@pytest.fixture
def rid(stack: Stack, tmp_path: Path) -> str:
    path = tmp_path / "semantic"
    init_repo(path, FILES)
    resp = stack.post("/repositories/index", {"url": str(path)})
    assert resp.status_code == 200, resp.body
    return str(resp.json_body["repositoryId"])


def search(stack: Stack, rid: str, query: str, mode: str) -> list[str]:
    resp = stack.post("/search", {"repositoryId": rid, "query": query, "mode": mode})
    assert resp.status_code == 200, resp.body
    return [h["path"] for h in resp.json_body["hits"]]


def test_semantic_and_hybrid_search_with_the_local_model(stack: Stack, rid: str) -> None:
    stack.pump.drain()
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert status["status"] == "ready", status
    assert status["progress"] == {"filesProcessed": 3, "numFiles": 3, "filesEmbedded": 3}
    # No word in common with the code: only the embedding can find it.
    assert search(stack, rid, "parse a link into its components", "semantic")[0] == "net/urls.py"
    assert search(stack, rid, "making a loaf at home", "semantic")[0] == "kitchen/bread.py"
    assert search(stack, rid, "hostname of a web address", "hybrid")[0] == "net/urls.py"
    s3 = boto3.client("s3", region_name=stack.settings.region)
    listed = s3.list_objects_v2(Bucket=stack.settings.names.bucket, Prefix="vectors/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert len(keys) == 3 and all(k.startswith("vectors/all-minilm-l6-v2/") for k in keys)


def test_embed_failures_are_retried_then_land_in_the_dlq(stack: Stack, rid: str) -> None:
    flaky = _inject(lambda inner: FlakyBlobStore(inner, "vectors/"))
    pump_main_queues(stack)
    names = stack.settings.names
    # 3 files in one batch of 3 -> one embed message, tried maxReceiveCount (5) times; each
    # try embeds the batch's 3 blobs at once, and each fails to write its vectors.
    assert flaky.failures == 5 * 3
    assert stack.queue_depth(names.dead_letter_queues["embed"]) == 1
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert status["status"] == "indexing" and status["indexedSha"] is None
    # Parsed, never embedded: status says so rather than showing a finished bar.
    assert status["progress"] == {"filesProcessed": 3, "numFiles": 3, "filesEmbedded": 0}
    stack.pump.drain()  # the DLQ consumer ends the job
    assert stack.queue_depth(names.dead_letter_queues["embed"]) == 0
    status = stack.get(f"/repositories/{rid}/status").json_body
    assert (status["status"], status["indexedSha"]) == ("error", None) and status["error"]


def test_poison_embed_messages_are_acknowledged(stack: Stack) -> None:
    names = stack.settings.names
    url = stack.sqs.get_queue_url(QueueName=names.queues["embed"])["QueueUrl"]
    for body in ("not json", '{"type": "EmbedBatch", "job_id": "nope", "batch": 0}'):
        stack.sqs.send_message(QueueUrl=url, MessageBody=body)
    assert stack.pump.drain() == 2
    assert stack.queue_depth(names.dead_letter_queues["embed"]) == 0
