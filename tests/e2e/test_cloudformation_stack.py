"""Each stage's merged template, deployed into moto's CloudFormation (`create_stack`), means
what infra/resources.json, infra/deploy.json and .chalice/config.json say.

The template is the one `make package` builds (infra/sam.py, without the layer's contents),
packaged and SAM-transformed as `make deploy` would (tests/cfn_stack.py). What moto
creates is asserted on moto's own APIs; what moto's CloudFormation does not model is
asserted on the transformed template, each place saying so. moto 5.2.5 (read in its source):
- skips AWS::CloudWatch::Alarm, AWS::SecretsManager::Secret, AWS::SNS::Subscription and Glue
  ("No Moto CloudFormation support"), and cannot create an API Gateway Deployment or Stage
  (MOTO_GAPS);
- creates a table from KeySchema, AttributeDefinitions, GSIs and BillingMode, not its
  TimeToLiveSpecification or PointInTimeRecoverySpecification;
- creates a bucket with its encryption and tags only (no public access block, no lifecycle);
- creates a function without TracingConfig, EphemeralStorage or Layers (it passes
  Description, MemorySize, Timeout, Environment, ReservedConcurrentExecutions, ...);
- keeps an event source mapping's FunctionResponseTypes, not its ScalingConfig.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.settings import Settings
from infra.plan import CONFIG_PATH, RESOURCES_PATH, StagePlan, load_json, logical_id, plan_stage
from infra.stateful import dead_letter_queues
from tests.cfn_stack import (
    MOTO_GAPS,
    MOTO_SKIPS,
    create_stack,
    resources_of_type,
    sam_template,
    to_cloudformation,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
RESOURCES = load_json(RESOURCES_PATH)
ALARM_EMAIL = "ops@example.com"


@dataclass
class Deployed:
    stage: str
    plan: StagePlan
    cfn: dict[str, Any]  # the transformed template CloudFormation would create
    physical: dict[str, str]  # logical id -> physical id, as moto's stack lists them
    outputs: dict[str, str]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def properties(self, logical: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.cfn["Resources"][logical]["Properties"]
        return properties


@pytest.fixture(scope="module", params=["dev", "prod"])
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    stage: str = request.param
    out = tmp_path_factory.mktemp(f"template-{stage}")
    sam = sam_template(stage, out)
    stack = f"strata-{stage}"
    cfn = to_cloudformation(sam, stack, REGION)
    with pytest.MonkeyPatch.context() as env:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
            env.setenv(key, value)
        with mock_aws():
            created = create_stack(cfn, out, stack, {"AlarmEmail": ALARM_EMAIL})
            physical, outputs = created.physical, created.outputs
            yield Deployed(stage, plan_stage(stage), cfn, physical, outputs)


def test_every_resource_is_created_but_those_moto_does_not_model(deployed: Deployed) -> None:
    expected = {
        k
        for k, v in deployed.cfn["Resources"].items()
        if v["Type"] not in MOTO_SKIPS | set(MOTO_GAPS)
    }
    assert set(deployed.physical) == expected
    assert len(deployed.physical) > 50  # functions, roles, tables, queues, ... not a stub


def test_tables_have_the_key_schemas_gsis_and_ttl_of_resources_json(deployed: Deployed) -> None:
    dynamodb = deployed.client("dynamodb")
    names = deployed.client("dynamodb").list_tables()["TableNames"]
    assert sorted(names) == sorted(f"strata-{deployed.stage}-{t}" for t in RESOURCES["tables"])
    for name, spec in RESOURCES["tables"].items():
        table = dynamodb.describe_table(TableName=f"strata-{deployed.stage}-{name}")["Table"]
        assert table["KeySchema"] == spec["KeySchema"], name
        assert table["AttributeDefinitions"] == spec["AttributeDefinitions"], name
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", name
        gsis = [
            {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"]}
            for g in table.get("GlobalSecondaryIndexes", [])
        ]
        wanted = [
            {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"]}
            for g in spec.get("GlobalSecondaryIndexes", [])
        ]
        assert gsis == wanted, name
        # TTL and point-in-time recovery: on the template (moto's stack leaves them off).
        properties = deployed.properties(logical_id("table", name))
        assert properties.get("TimeToLiveSpecification") == spec.get("TimeToLiveSpecification")
        pitr = properties.get("PointInTimeRecoverySpecification")
        assert pitr == ({"PointInTimeRecoveryEnabled": True} if deployed.plan.retain_data else None)
        policy = "Retain" if deployed.plan.retain_data else "Delete"
        assert deployed.cfn["Resources"][logical_id("table", name)]["DeletionPolicy"] == policy


def queue_attributes(deployed: Deployed, name: str) -> dict[str, str]:
    sqs = deployed.client("sqs")
    url = sqs.get_queue_url(QueueName=f"strata-{deployed.stage}-{name}")["QueueUrl"]
    attributes: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"
    ]
    return attributes


def test_every_work_queue_redrives_to_its_dlq_after_max_receive_count(deployed: Deployed) -> None:
    for name, spec in RESOURCES["queues"].items():
        attributes = queue_attributes(deployed, name)
        assert attributes["VisibilityTimeout"] == str(spec["VisibilityTimeout"]), name
        if "MessageRetentionPeriod" in spec:
            assert attributes["MessageRetentionPeriod"] == str(spec["MessageRetentionPeriod"])
        redrive = spec.get("RedrivePolicy")
        if redrive is None:
            assert "RedrivePolicy" not in attributes, f"{name} is a DLQ: nothing behind it"
            continue
        dlq = queue_attributes(deployed, redrive["deadLetterQueue"])
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": dlq["QueueArn"],
            "maxReceiveCount": redrive["maxReceiveCount"],
        }


def test_every_queue_consumer_reports_batch_item_failures(deployed: Deployed) -> None:
    lam = deployed.client("lambda")
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    by_function = {m["FunctionArn"].rsplit(":", 1)[-1]: m for m in mappings}
    consumers = [f for f in deployed.plan.functions if f.consumes]
    assert len(mappings) == len(consumers) == 9
    for function in consumers:
        mapping = by_function[deployed.physical[function.logical_id]]
        queue = queue_attributes(deployed, str(function.consumes))
        assert mapping["EventSourceArn"] == queue["QueueArn"], function.name
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], function.name
        # The cap on concurrent batches: on the template (moto drops ScalingConfig).
        events = resources_of_type(deployed.cfn, "AWS::Lambda::EventSourceMapping")
        (spec,) = [
            e["Properties"] for e in events.values()
            if e["Properties"]["FunctionName"] == {"Ref": function.logical_id}
        ]  # fmt: skip
        cap = function.max_concurrency
        assert spec.get("ScalingConfig") == ({"MaximumConcurrency": cap} if cap else None)


def test_functions_run_on_the_runtime_with_their_settings_and_find_their_resources(
    deployed: Deployed,
) -> None:
    lam = deployed.client("lambda")
    config = load_json(CONFIG_PATH)["lambda_functions"]
    tables = set(deployed.client("dynamodb").list_tables()["TableNames"])
    sqs = deployed.client("sqs")
    for function in deployed.plan.functions:
        physical = deployed.physical[function.logical_id]
        got = lam.get_function_configuration(FunctionName=physical)
        assert got["Runtime"] == "python3.13", function.name
        assert got["MemorySize"] == config[function.name]["lambda_memory_size"]
        assert got["Timeout"] == function.timeout
        role = deployed.physical[function.role_id]
        assert got["Role"].endswith(f"/{role}"), "each function runs with its own role"
        reserved = lam.get_function_concurrency(FunctionName=physical)
        assert reserved.get("ReservedConcurrentExecutions") == function.reserved_concurrency
        # What the function's Settings.from_env derives names resources the stack made.
        names = Settings.from_env(got["Environment"]["Variables"]).names
        assert names.bucket == deployed.outputs["IndexBucketName"]
        assert names.bucket == f"strata-{deployed.stage}-index-{ACCOUNT}-{REGION}"
        assert set(names.tables.values()) <= tables
        for queue in [*names.queues.values(), *names.dead_letter_queues.values()]:
            sqs.get_queue_url(QueueName=queue)
        secrets = resources_of_type(deployed.cfn, "AWS::SecretsManager::Secret").values()
        secret_names = {s["Properties"]["Name"] for s in secrets}
        assert {names.webhook_secret, names.api_key_pepper} == secret_names
        aliases = deployed.client("kms").list_aliases()["Aliases"]
        assert names.token_key_alias in {a["AliasName"] for a in aliases}


def test_functions_trace_use_the_layer_and_size_tmp_for_git_clones(deployed: Deployed) -> None:
    # On the template: moto's stack drops TracingConfig, Layers and EphemeralStorage.
    (layer,) = resources_of_type(deployed.cfn, "AWS::Lambda::LayerVersion")
    for function in deployed.plan.functions:
        properties = deployed.properties(function.logical_id)
        assert properties["TracingConfig"] == {"Mode": "Active"}, function.name
        assert properties["Layers"] == [{"Ref": layer}], function.name
        storage = properties.get("EphemeralStorage")
        if function.git_clones:
            assert storage is not None
            needed_mb = function.settings.git_cache_max_bytes / 2**20
            assert needed_mb < storage["Size"] <= 10240, function.name
        else:
            assert storage is None, f"{function.name} keeps no clones: Lambda's 512 MB /tmp"
    (stage,) = resources_of_type(deployed.cfn, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True  # API Gateway's side of the traces


def test_alarms_watch_every_dlq_and_every_worker_and_notify_the_topic(deployed: Deployed) -> None:
    topic = deployed.outputs["AlarmTopicArn"]
    sns = deployed.client("sns")
    assert topic in {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    # Alarms and the subscription: on the template (moto's stack skips both types).
    (subscription,) = resources_of_type(deployed.cfn, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    assert subscription["Condition"] == "HasAlarmEmail"
    alarms = [
        a["Properties"] for a in resources_of_type(deployed.cfn, "AWS::CloudWatch::Alarm").values()
    ]
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] == alarm["OKActions"]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    depth = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }  # fmt: skip
    assert depth == {logical_id("queue", q) for q in dead_letter_queues(RESOURCES)}
    assert len(depth) == 5
    for queue in depth:  # each names a queue the stack created
        assert deployed.physical[queue].endswith(f"strata-{deployed.stage}-" + queue_name(queue))
    errors = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["MetricName"] == "Errors"}
    workers = {f.logical_id for f in deployed.plan.functions if f.is_worker}
    assert errors == workers and len(workers) == 11  # with the archiver and callback_worker
    assert all(w in deployed.physical for w in workers)


def queue_name(logical: str) -> str:
    """`ParseDlqQueue` -> `parse-dlq` (resources.json's name)."""
    return next(str(q) for q in RESOURCES["queues"] if logical_id("queue", q) == logical)


def test_the_bucket_is_private_encrypted_and_expires_job_staging(deployed: Deployed) -> None:
    bucket = deployed.outputs["IndexBucketName"]
    s3 = deployed.client("s3")
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # Public access block and lifecycle: on the template (moto's stack leaves them off).
    properties = deployed.properties(logical_id("bucket", "index"))
    assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"),
        True,
    )
    rules = properties["LifecycleConfiguration"]["Rules"]
    assert [(r["Prefix"], r["ExpirationInDays"], r["Status"]) for r in rules] == [
        ("jobs/", 1, "Enabled"),
        ("checks/runs/", 30, "Enabled"),  # check plans and reports, with their records
    ]
