"""The merge template of a stage: everything `chalice package` cannot write itself.

    merge_template(plan_stage("dev"))   # -> dict; package.py hands it to --merge-template

Chalice writes the functions, their roles, the API and the event sources (from app.py and
.chalice/config.json: memory, timeout, reserved concurrency, X-Ray, log retention). This
adds, from infra/resources.json (the file the local stack provisions on moto) and
infra/deploy.json:
- the stateful resources (stateful.py) and the alarms with their topic (alarms.py);
- per function: STRATA_BUCKET (the bucket's name includes account and region), ephemeral
  storage sized to the git cache where the function keeps clones, and on its SQS event
  source `ReportBatchItemFailures`, the queue's ARN taken from the queue resource (so
  CloudFormation creates the queue before the mapping) and any concurrency cap;
- each function role's policy (iam.py), replacing the deny-all placeholder Chalice reads;
- X-Ray tracing on the API's stage, and outputs naming what a deployer needs next.

`chalice package --merge-template` deep-merges dictionaries and lets this template's value
win everywhere else (lists included), which is what each override above relies on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra import alarms, glue
from infra.iam import Grants, policy_document, sub
from infra.plan import (
    RESOURCES_PATH,
    FunctionPlan,
    Json,
    StagePlan,
    load_json,
    logical_id,
)
from infra.stateful import StatefulResources

INDEX_BUCKET = logical_id("bucket", "index")
REST_API = "RestAPI"  # Chalice's logical id of the API


def _event_source(function: FunctionPlan) -> Json:
    queue = logical_id("queue", str(function.consumes))
    properties: Json = {
        "Queue": sub(f"${{{queue}.Arn}}"),  # merges into Chalice's Fn::Sub of the name
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }
    if function.max_concurrency is not None:
        properties["ScalingConfig"] = {"MaximumConcurrency": function.max_concurrency}
    return {function.event_id: {"Properties": properties}}


def _function(function: FunctionPlan) -> Json:
    properties: Json = {"Environment": {"Variables": {"STRATA_BUCKET": {"Ref": INDEX_BUCKET}}}}
    storage = function.ephemeral_storage_mb
    if storage is not None:
        properties["EphemeralStorage"] = {"Size": storage}
    if function.consumes is not None:
        properties["Events"] = _event_source(function)
    return {"Properties": properties}


def _role(function: FunctionPlan, resources: Mapping[str, Any]) -> Json:
    tables = resources.get("tables", {})
    grants = Grants(
        logical_id,
        lambda table: bool(tables.get(table, {}).get("GlobalSecondaryIndexes")),
        function.embedding_model,
        function.answer_model,
    )
    document = policy_document(
        function.grants,
        grants,
        function_logical_id=function.logical_id,
        consumes=function.consumes,
    )
    policy = {"PolicyName": f"{function.role_id}Policy", "PolicyDocument": document}
    return {"Properties": {"Policies": [policy]}}


def check_consumers(plan: StagePlan, resources: Mapping[str, Any]) -> None:
    """Lambda refuses a queue whose visibility timeout is below its consumer's timeout, and
    an event source capped above the function's reserved concurrency gets throttled."""
    queues = resources.get("queues", {})
    for f in plan.functions:
        if f.consumes is None:
            continue
        if f.consumes not in queues:
            raise ValueError(f"{f.name} consumes {f.consumes}, which resources.json lacks")
        visibility = int(queues[f.consumes].get("VisibilityTimeout", 30))
        if visibility < f.timeout:
            raise ValueError(f"{f.consumes}: visibility {visibility} s < {f.name}'s {f.timeout} s")
        reserved, cap = f.reserved_concurrency, f.max_concurrency
        if reserved is not None and (cap is None or cap > reserved):
            raise ValueError(f"{f.name}: cap its event source at its reserved concurrency")


def merge_template(plan: StagePlan, resources: Mapping[str, Any] | None = None) -> Json:
    resources = resources if resources is not None else load_json(RESOURCES_PATH)
    check_consumers(plan, resources)
    out: Json = StatefulResources(plan, resources).build()
    extra = {**alarms.alarm_resources(plan, resources), **glue.glue_resources(plan, INDEX_BUCKET)}
    for name, resource in extra.items():
        if name in out:
            raise ValueError(f"two resources named {name}")
        out[name] = resource
    for function in plan.functions:
        out[function.logical_id] = _function(function)
        out[function.role_id] = _role(function, resources)
        if function.log_retention_days:
            # Chalice 1.34 names the API handler's group after `ApiHandler`, a resource that
            # does not exist (the function is `APIHandler`): name every group here.
            group = sub(f"/aws/lambda/${{{function.logical_id}}}")
            out[function.log_group_id] = {"Properties": {"LogGroupName": group}}
    out[REST_API] = {"Properties": {"TracingEnabled": True}}
    prefix = plan.prefix
    outputs = {
        "Stage": plan.stage,
        "ResourcePrefix": prefix,
        "IndexBucketName": {"Ref": INDEX_BUCKET},
        "AlarmTopicArn": {"Ref": alarms.TOPIC},
        "WebhookSecretName": f"{prefix}/webhooks/github",
        "ApiKeyPepperSecretName": f"{prefix}/api-keys",
        "EventsGlueDatabaseName": glue.database_name(plan),  # Athena: <database>.events
    }
    return {
        "Description": f"Strata, stage {plan.stage} (generated by infra/template.py)",
        "Parameters": alarms.parameters(),
        "Conditions": alarms.conditions(),
        "Resources": out,
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
