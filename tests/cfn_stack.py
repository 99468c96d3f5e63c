"""A stage's merged template as CloudFormation deploys it, offline.

`sam_template(stage, out)` is what `make package` writes to build/<stage>/sam.json (infra/sam.py
makes it without the dependencies layer, which the template only names). `to_cloudformation`
does what `aws cloudformation package` and the AWS::Serverless transform do at deploy time:
point CodeUri/ContentUri at uploaded zips, then expand the SAM resources with
aws-sam-translator, the library CloudFormation's transform is built from. moto's
CloudFormation has no SAM transform of its own.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from infra.sam import build_template

Json = dict[str, Any]
ARTIFACT_BUCKET = "strata-artifacts"
ZIP_KEYS = {"CodeUri": "deployment.zip", "ContentUri": "layer-deployment.zip"}


def sam_template(stage: str, out: Path) -> Json:
    return build_template(stage, out)


def to_cloudformation(sam: Json, stack: str, region: str = "us-east-1") -> Json:
    """`aws cloudformation package` (zips to ARTIFACT_BUCKET/<stack>/) + the SAM transform."""
    template = copy.deepcopy(sam)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for field, key in ZIP_KEYS.items():
            if field in properties:
                properties[field] = {"Bucket": ARTIFACT_BUCKET, "Key": f"{stack}/{key}"}
    # No managed policy map: every role of the template is spelled out (none is named).
    translator = Translator({}, Parser(), boto_session=boto3.Session(region_name=region))
    cfn: Json = translator.translate(template, parameter_values={})
    return cfn


# What moto's CloudFormation cannot create from an API Gateway template, and why.
MOTO_GAPS = {
    "AWS::ApiGateway::Deployment": "moto ignores a RestApi's Body, so it has no methods to deploy",
    "AWS::ApiGateway::Stage": "no AWS::ApiGateway::Stage in moto's CloudFormation",
}


def for_moto(cfn: Json) -> tuple[Json, dict[str, Json]]:
    """The template moto can create, and the resources left out of it (MOTO_GAPS), which
    the tests check on the template instead. moto's AWS::ApiGateway::RestApi also requires
    Name, which CloudFormation takes from the imported Body's info.title."""
    out = copy.deepcopy(cfn)
    left_out = {k: out["Resources"].pop(k) for k in resources_of_type(out, *MOTO_GAPS)}
    for api in resources_of_type(out, "AWS::ApiGateway::RestApi").values():
        properties = api["Properties"]
        properties.setdefault("Name", properties["Body"]["info"]["title"])
    return out, left_out


def resources_of_type(template: Json, *kinds: str) -> dict[str, Json]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] in kinds}


# Resource types moto's CloudFormation skips, warning "not supported" (moto 5.2.5's source).
MOTO_SKIPS = {
    "AWS::CloudWatch::Alarm",
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Subscription",
    "AWS::Glue::Database",  # the events archive's catalogue (infra/glue.py)
    "AWS::Glue::Table",
    # The WebSocket API Chalice adds for live status (ADR 24).
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGatewayV2::Stage",
}


@dataclass
class Stack:
    name: str
    physical: dict[str, str]  # logical id -> physical id, as moto lists them
    outputs: dict[str, str]


def create_stack(cfn: Json, out: Path, stack: str, parameters: dict[str, str]) -> Stack:
    """`make deploy` on moto (inside mock_aws): the zips in `out` and the template go to
    ARTIFACT_BUCKET, then create_stack from its URL (a real template is past TemplateBody's
    51,200 bytes). Asserts it completed and that moto skipped nothing but MOTO_SKIPS."""
    import boto3  # the caller's mock_aws is active

    body, _ = for_moto(cfn)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    for name in ZIP_KEYS.values():
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{stack}/{name}", Body=(out / name).read_bytes())
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{stack}/template.json", Body=json.dumps(body))
    cloudformation = boto3.client("cloudformation")
    with warnings.catch_warnings(record=True) as skipped:  # listing re-parses too
        warnings.simplefilter("always")
        cloudformation.create_stack(
            StackName=stack,
            TemplateURL=f"https://{ARTIFACT_BUCKET}.s3.amazonaws.com/{stack}/template.json",
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        )
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        summaries = cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    unsupported = {re.sub(r".*parse (\S+) but.*", r"\1", str(w.message)) for w in skipped}
    assert unsupported <= MOTO_SKIPS, [str(w.message) for w in skipped]  # (a condition may
    # leave one out: the subscription without AlarmEmail)
    assert described["StackStatus"] == "CREATE_COMPLETE", described
    assert {r["ResourceStatus"] for r in summaries} == {"CREATE_COMPLETE"}
    # moto lists each resource it skipped as a summary with empty ids.
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries if r["LogicalResourceId"]
    }
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    return Stack(stack, physical, outputs)


def create_skipped_secrets(cfn: Json) -> None:
    """What CloudFormation would make of the template's secrets, which moto skips: each
    named secret with its GenerateSecretString (a random value under GenerateStringKey)."""
    import boto3

    client = boto3.client("secretsmanager")
    for secret in resources_of_type(cfn, "AWS::SecretsManager::Secret").values():
        properties = secret["Properties"]
        generate = properties["GenerateSecretString"]
        value = json.loads(generate["SecretStringTemplate"])
        value[generate["GenerateStringKey"]] = secrets.token_hex(generate["PasswordLength"] // 2)
        client.create_secret(Name=properties["Name"], SecretString=json.dumps(value))
