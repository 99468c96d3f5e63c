"""Least privilege, checked against what the code really calls: one user path through every
Lambda function (the API, the four workers, the four dead-letter consumers, the sweep) on
moto, each function in a process of its own, with every botocore call recorded per function
(tests/aws_calls.py). Each call's IAM (action, resource) must be allowed by that function's
policy as infra/ generates it for the dev stage, and each grant of that policy must be used
by some call, unless it is one this path cannot reach (UNEXERCISED, each with why).

The stack is provisioned with the dev stage's physical names, so the generated policies are
resolved (tests/template_resolver.py) to exactly the ARNs the calls name."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pygit2
import pytest

from chalicelib import bootstrap
from chalicelib.domain.webhook_signatures import sign
from chalicelib.local.pump import WorkerPump
from chalicelib.local.ws_gateway import WebsocketGateway
from chalicelib.settings import Settings
from infra.iam import statement_id
from infra.plan import StagePlan, plan_stage
from infra.template import merge_template
from tests.aws_calls import ACCOUNT, Arns, CallRecorder, allowed, needs, statement_allows
from tests.e2e.conftest import settings_for
from tests.e2e.live_scenario import (
    CALLBACK_SECRET,
    callback_receiver,
    follow,
    leave,
    live_gateway,
)
from tests.e2e.test_tenants import TENANT_TOKEN, Private, keys, private, tls  # noqa: F401
from tests.fakes.models import FakeEmbedder
from tests.gitrepo import commit_files
from tests.template_resolver import TemplateResolver

REGION = "us-east-1"

# Grants no offline path reaches: (function, grant resource, action) -> why it is needed.
_BEDROCK = "the scenario embeds with a fake; Bedrock is the deployed embedder"
_DEAD_LEASE_HELD = "a dead IndexRepository while a live job holds the lease (or a stale one)"
_DEAD_NOT_SUPERSEDED = (
    "a dead job message with no newer request marks the repository failed under the lease "
    "(the scenario supersedes them; index_dlq_worker shows the same calls)"
)
_PRUNED = "a connection API Gateway no longer knows (410) is pruned (tests/e2e/test_live_status.py)"
UNEXERCISED: dict[tuple[str, str, str], str] = {
    **{
        (function, "table:listeners", action): _PRUNED
        for function in (
            "api_handler",
            "index_worker",
            "parse_worker",
            "embed_worker",
            "index_dlq_worker",
            "parse_dlq_worker",
            "embed_dlq_worker",
            "refresh_sweep",
            "check_worker",
            "check_dlq_worker",
        )
        for action in ("dynamodb:GetItem", "dynamodb:DeleteItem")
    },
    ("api_handler", "model:embedding", "bedrock:InvokeModel"): _BEDROCK,
    ("embed_worker", "model:embedding", "bedrock:InvokeModel"): _BEDROCK,
    ("api_handler", "model:answer", "bedrock:InvokeModel"): (
        "the scenario answers extractively; Bedrock (Converse) is the deployed answerer"
    ),
    ("api_handler", "table:tenants", "dynamodb:GetItem"): "registering under a tenant quota",
    ("api_handler", "table:deliveries", "dynamodb:DeleteItem"): (
        "a push whose handling fails releases its delivery id for GitHub's redelivery"
    ),
    ("index_dlq_worker", "table:locks", "dynamodb:GetItem"): _DEAD_LEASE_HELD,
    ("index_dlq_worker", "table:jobs", "dynamodb:GetItem"): _DEAD_LEASE_HELD,
    ("index_dlq_worker", "queue:index", "sqs:GetQueueUrl"): (
        "a newer request acknowledged while the dead letter's consumer held the lease"
    ),
    ("index_dlq_worker", "queue:index", "sqs:SendMessage"): (
        "a newer request acknowledged while the dead letter's consumer held the lease"
    ),
    ("parse_dlq_worker", "table:repositories", "dynamodb:UpdateItem"): _DEAD_NOT_SUPERSEDED,
    ("parse_dlq_worker", "table:locks", "dynamodb:ConditionCheckItem"): _DEAD_NOT_SUPERSEDED,
    ("embed_dlq_worker", "table:repositories", "dynamodb:UpdateItem"): _DEAD_NOT_SUPERSEDED,
    ("embed_dlq_worker", "table:locks", "dynamodb:ConditionCheckItem"): _DEAD_NOT_SUPERSEDED,
    ("api_handler", "table:checks", "dynamodb:UpdateItem"): (
        "a check whose PlanCheck could not be sent is ended at once"
    ),
    ("refresh_sweep", "table:jobs", "dynamodb:GetItem"): (
        "a sweep that finds a lease left by a job that has ended (lease_is_stale)"
    ),
    ("events_archiver", "objects:index/events/*", "s3:GetObject"): (
        "a run that finds files in a partition already (the scenario archives once)"
    ),
    ("events_archiver", "objects:index/events/*", "s3:DeleteObject"): (
        "merging a closed day's files into one (the scenario archives within one day)"
    ),
}


@pytest.fixture
def dev_plan() -> StagePlan:
    return plan_stage("dev")


@pytest.fixture
def e2e_settings(tmp_path: Path, dev_plan: StagePlan) -> Settings:
    """tests/e2e/conftest.py's settings, with the dev stage's names (the bucket's too)."""
    return settings_for(tmp_path, dev_plan.prefix, f"{dev_plan.prefix}-index-{ACCOUNT}-{REGION}")


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    r = CallRecorder()
    r.install(monkeypatch)
    return r


class Scenario:
    """The stack of tests/e2e/test_tenants.py (a private remote behind the egress proxy), with
    each function in a process of its own: a container per function, built on its first
    call, so one function's warm caches (queue URLs, the pepper) never hide another's calls."""

    def __init__(self, remote: Private, recorder: CallRecorder) -> None:
        remote.configure(deadline_margin_ms=500)  # the test client's context has little time
        self.private = remote
        self.stack = remote.stack
        self.recorder = recorder
        self.embedder: FakeEmbedder | None = FakeEmbedder()
        self._containers: dict[str, bootstrap.Container] = {}
        self.live: WebsocketGateway | None = None  # set by the fixture (ADR 24)
        self.callback_url = ""
        routes = {
            name: replace(route, handler=self._as(route.function_name, route.handler))
            for name, route in self.stack.pump.routes.items()
        }
        self.stack.pump = WorkerPump(self.stack.sqs, routes, self.stack.settings.region)

    def _container(self, function: str) -> bootstrap.Container:
        if function not in self._containers:
            c = bootstrap.build(self.stack.settings)
            engine = self.private.guarded.engine
            ports = replace(c.ports, git=engine, embedder=self.embedder)
            self._containers[function] = replace(c, ports=ports, writer=engine)
        return self._containers[function]

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        bootstrap.configure(self.stack.settings, self._container(function))
        with self.recorder.acting_as(function):
            yield

    def _as(self, function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            with self.acting_as(function):
                return handler(*args)

        return run

    def set_embedder(self, embedder: FakeEmbedder | None) -> None:
        self.embedder = embedder
        self._containers.clear()

    def api(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        with self.acting_as("api_handler"):
            return self.stack.call(method, path, body, key=key or self.stack.key, headers=headers)

    def _move(self, source: str, target: str, copies: int) -> int:
        """Every message of `source`, `copies` times into `target` (which may be `source`)."""
        sqs = self.stack.sqs
        url = sqs.get_queue_url(QueueName=source)["QueueUrl"]
        to = sqs.get_queue_url(QueueName=target)["QueueUrl"]
        taken = []
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            taken += got
        for m in taken:
            for _ in range(copies):
                sqs.send_message(QueueUrl=to, MessageBody=m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(taken)

    def dead_letter(self, queue: str) -> int:
        """Move every message of `queue` to its DLQ, as SQS does after maxReceiveCount, each
        twice (a DLQ's delivery is at least once too)."""
        names = self.stack.settings.names
        return self._move(names.queues[queue], names.dead_letter_queues[queue], copies=2)

    def duplicate(self, queue: str) -> int:
        """Deliver every message of `queue` twice, as SQS may."""
        name = self.stack.settings.names.queues[queue]
        return self._move(name, name, copies=2)

    def sweep(self) -> dict[str, Any]:
        event = self.stack.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        with self.acting_as("refresh_sweep"):
            payload: dict[str, Any] = self.stack.client.lambda_.invoke(
                "refresh_sweep", event
            ).payload
        return payload

    def webhook_ping(self) -> Any:
        name = self.stack.settings.names.webhook_secret
        secrets = boto3.client("secretsmanager", region_name=self.stack.settings.region)
        secret = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])["default"]
        body = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "delivery-0001",
            "X-Hub-Signature-256": sign(secret, body),
        }
        with self.acting_as("api_handler"):
            return self.stack.client.http.post("/webhooks/github", headers=headers, body=body)


@pytest.fixture
def scenario(private: Private, recorder: CallRecorder) -> Iterator[Scenario]:  # noqa: F811
    s = Scenario(private, recorder)
    # Live status and callbacks (ADR 24): the loopback WebSocket gateway and a receiver.
    with live_gateway(s) as gateway, callback_receiver() as url:
        private.configure(
            websocket_endpoint=gateway.management_url,
            callback_private=True,
            callback_retry_seconds=0,
        )
        s.live = gateway
        s.callback_url = url
        yield s


def run_every_function(s: Scenario) -> None:
    """Index a private remote with a tenant's token (embedding, then not), read it every way,
    then make each work queue's messages dead so each DLQ consumer ends a live job; check it,
    and commit to it."""
    made = s.api("POST", "/keys", {"tenant": "acme", "scope": "index"})
    acme = made.json_body["key"]
    assert s.api("GET", "/keys").status_code == 200
    spare = s.api("POST", "/keys", {"tenant": "acme", "scope": "read"}).json_body["keyId"]
    assert s.api("DELETE", f"/keys/{spare}").status_code == 200
    url = s.private.url(s.private.tenant_server)
    body = {"url": url, "accessToken": TENANT_TOKEN}
    callback = {"notifyUrl": s.callback_url, "notifySecret": CALLBACK_SECRET}
    first = s.api("POST", "/repositories/index", {**body, **callback}, key=acme)
    assert first.status_code == 200, first.body
    rid = first.json_body["repositoryId"]
    watcher = s.api("POST", "/keys", {"tenant": "acme", "scope": "read"}).json_body["key"]
    assert s.live is not None
    live = follow(s.live, watcher, rid)  # events and progress of everything below
    assert s.duplicate("index") == 1
    assert s.stack.pump.poll("index") == 1  # plans under the lease; the copy finds it held
    assert s.stack.pump.poll("index") == 1
    again = s.api("POST", "/repositories/index", {"repositoryId": rid}, key=acme)
    assert again.json_body["message"] == "indexing is already under way"
    assert s.sweep()["requested"] == 0  # indexing, under a live lease
    s.stack.pump.drain()
    assert s.api("GET", f"/repositories/{rid}/status").json_body["status"] == "ready"
    _read_every_way(s, acme, rid)

    s.set_embedder(None)  # a parse batch that ends the job finalizes it itself
    commit_files(s.private.path, {"config/more.py": "MORE = 1\n"})
    assert s.sweep()["requested"] == 1  # the head moved: the sweep asks for an index
    s.stack.pump.drain()
    forced = s.api("POST", "/repositories/index", {"repositoryId": rid, "force": True}, key=acme)
    assert forced.json_body["status"] == "indexing"  # nothing to parse: the plan finalizes
    s.stack.pump.drain()
    assert s.api("GET", f"/repositories/{rid}/status").json_body["status"] == "ready"

    s.set_embedder(FakeEmbedder())
    for n, queue in enumerate(("embed", "parse", "index")):
        _dead_job(s, acme, rid, n, queue)
    _check_every_way(s, acme, rid)  # late: the sweeps above run on a clock (chalice.test's)
    _commit_every_way(s, acme, rid)
    _archive_and_read_back(s, acme, rid)
    leave(live, s.live)


def _archive_and_read_back(s: Scenario, key: str, rid: str) -> None:
    """The events archiver (scheduled), then a status at a time, which reads its files."""
    s.stack.settings = replace(s.stack.settings, archive_settle_seconds=0.0)
    s.set_embedder(s.embedder)  # new containers, with these settings
    event = s.stack.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    with s.acting_as("events_archiver"):
        report = s.stack.client.lambda_.invoke("events_archiver", event).payload
    assert report["written"] > 0, report
    then = s.api("GET", f"/repositories/{rid}/status?at={time.time() + 60:.0f}", key=key)
    assert then.status_code == 200 and then.json_body["status"] == "ready", then.body


def _read_every_way(s: Scenario, key: str, rid: str) -> None:
    chat = {"repositoryId": rid, "question": "what is the api key?"}
    cid = s.api("POST", "/chat/query", chat, key=key).json_body["conversationId"]
    for method, path, query in (
        ("POST", "/search", {"repositoryId": rid, "query": "settings"}),
        ("POST", "/search", {"owner": "acme", "query": "settings", "mode": "lexical"}),
        ("POST", "/chat/query", {**chat, "conversationId": cid}),
        ("GET", f"/repositories/{rid}/events", None),
        ("GET", f"/repositories/{rid}/symbols?q=API", None),
        ("GET", f"/repositories/{rid}/graph/waves", None),
        ("GET", "/health", None),
    ):
        assert s.api(method, path, query, key=key).status_code == 200, path
    assert s.webhook_ping().status_code == 200


def _commit_every_way(s: Scenario, key: str, rid: str) -> None:
    """A commit pushed with the tenant's token (a build check queued for it), its replay, and
    one refused under the lease (its idempotency record forgotten); then its index."""
    path = s.private.path
    config = ["git", "-C", str(path), "config", "receive.denyCurrentBranch", "ignore"]
    subprocess.run(config, check=True)
    base = str(pygit2.Repository(str(path)).head.target)
    change = {"path": "config/committed.py", "content": "COMMITTED = 1\n"}
    author = {"name": "Ada", "email": "ada@example.com"}
    body = {"branch": "main", "baseSha": base, "message": "m", "author": author}
    made = {**body, "changes": [change], "check": "build"}
    headers = {"Idempotency-Key": "iam-1"}
    for _ in range(2):  # the second is a replay
        done = s.api("POST", f"/repositories/{rid}/commits", made, key=key, headers=headers)
        assert done.status_code == 200, done.body
    refused = {
        **body,
        "baseSha": done.json_body["sha"],
        "changes": [{"path": "no", "delete": True}],
    }
    gone = s.api(
        "POST",
        f"/repositories/{rid}/commits",
        refused,
        key=key,
        headers={"Idempotency-Key": "iam-2"},
    )
    assert gone.status_code == 400, gone.body
    s.stack.pump.drain()
    assert s.api("GET", f"/repositories/{rid}/status").json_body["status"] == "ready"


def _check_every_way(s: Scenario, key: str, rid: str) -> None:
    """A check planned, staged and run by the check worker, read and listed; then a check
    whose PlanCheck dies, ended by the check DLQ's consumer."""
    made = s.api("POST", f"/repositories/{rid}/checks", {"level": "syntax"}, key=key)
    assert made.status_code == 202, made.body
    while s.stack.pump.poll("check"):
        pass
    check = s.api("GET", f"/repositories/{rid}/checks/{made.json_body['checkId']}", key=key)
    assert check.json_body["status"] in ("passed", "failed"), check.body
    assert s.api("GET", f"/repositories/{rid}/checks", key=key).status_code == 200
    assert s.api("GET", f"/repositories/{rid}/graph/sorry", key=key).status_code == 200
    dead = s.api("POST", f"/repositories/{rid}/checks", {"level": "syntax"}, key=key)
    assert s.dead_letter("check") == 1
    while s.stack.pump.poll("check-dlq"):
        pass
    ended = s.api("GET", f"/repositories/{rid}/checks/{dead.json_body['checkId']}", key=key)
    assert ended.json_body["status"] == "error", ended.body


def _dead_job(s: Scenario, key: str, rid: str, n: int, queue: str) -> None:
    """A job whose `queue` message dies; for a job's own message, a newer request arrives
    meanwhile and is enqueued when the dead letter's consumer ends the job."""
    commit_files(s.private.path, {f"config/extra{n}.py": f"EXTRA = {n}\n"})
    again = s.api("POST", "/repositories/index", {"repositoryId": rid}, key=key)
    assert again.json_body["status"] == "indexing", again.body
    if queue != "index":
        assert s.stack.pump.poll("index") == 1
    if queue == "embed":
        assert s.stack.pump.poll("parse") == 1
    assert s.dead_letter(queue) >= 1
    if queue != "index":
        commit_files(s.private.path, {f"config/newer{n}.py": f"NEWER = {n}\n"})
        newer = s.api("POST", "/repositories/index", {"repositoryId": rid}, key=key)
        assert newer.json_body["status"] == "indexing", newer.body
    while s.stack.pump.poll(f"{queue}-dlq"):
        pass
    status = s.api("GET", f"/repositories/{rid}/status").json_body
    assert status["status"] == ("error" if queue == "index" else "indexing"), status
    s.stack.pump.drain()  # the newer request, enqueued when the job ended


def _lookup(kind: str, name: str) -> str:
    if kind == "api":
        return "websocketapi"  # aws_calls.Arns.websocket_api
    if kind == "secret":
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arn: str = secrets.describe_secret(SecretId=name)["ARN"]
        return arn
    kms = boto3.client("kms", region_name=REGION)
    key: str = kms.describe_key(KeyId=name)["KeyMetadata"]["Arn"]
    return key


def _policies(plan: StagePlan) -> dict[str, dict[str, Any]]:
    """Each function's generated policy, resolved to this moto account's ARNs."""
    template = merge_template(plan)
    # Chalice's packager adds the WebSocket API the policies name (ADR 24).
    template["Resources"]["WebsocketAPI"] = {"Type": "AWS::ApiGatewayV2::Api"}
    resolver = TemplateResolver(template, _lookup, region=REGION, stack_name="strata-dev")
    return {
        f.name: resolver.resolve(
            template["Resources"][f.role_id]["Properties"]["Policies"][0]["PolicyDocument"]
        )
        for f in plan.functions
    }


def _arns(settings: Settings) -> Arns:
    names = settings.names
    key = _lookup("key", names.token_key_alias)
    secrets = {n: _lookup("secret", n) for n in (names.webhook_secret, names.api_key_pepper)}
    return Arns(REGION, {names.token_key_alias: key}, secrets, key)


def test_each_function_may_do_what_it_calls_and_nothing_it_does_not(
    scenario: Scenario, dev_plan: StagePlan
) -> None:
    run_every_function(scenario)
    policies = _policies(dev_plan)
    arns = _arns(scenario.stack.settings)
    calls = scenario.recorder.calls
    assert set(calls) == set(policies), "every function ran"
    denied, unused, reached = [], [], []
    for f in dev_plan.functions:
        wanted = {need for call in calls[f.name] for need in needs(call, arns)}
        denied += [
            (f.name, *need) for need in sorted(wanted) if not allowed(policies[f.name], *need)
        ]
        statements = {s["Sid"]: s for s in policies[f.name]["Statement"]}
        for resource, actions in f.grants.items():
            statement = statements[statement_id(resource)]
            for action in actions:
                used = any(
                    a.lower() == action.lower() and statement_allows(statement, a, r)
                    for a, r in wanted
                )
                known = (f.name, resource, action) in UNEXERCISED
                if not used and not known:
                    unused.append((f.name, resource, action))
                if used and known:
                    reached.append((f.name, resource, action))
    assert not denied, "calls the policy does not allow:\n" + "\n".join(map(str, denied))
    assert not unused, "grants no call used:\n" + "\n".join(map(str, unused))
    assert not reached, "UNEXERCISED grants this path did use:\n" + "\n".join(map(str, reached))
