"""Alarms to an SNS topic: a message in any dead-letter queue, an error in any worker.

Each DLQ has a consumer that ends the job of a message that exhausted its retries
(workers/indexing.py), so a DLQ is usually empty again within seconds: its depth alarm
looks at the maximum over one minute, which catches a message that waited for its
consumer, and stays up while the consumer itself fails. A worker's `Errors` count only
whole-invocation failures (a crash, a timeout, running out of memory): records that fail
alone are reported as partial batch failures and retried, not errors.

`AlarmEmail` (a stack parameter) subscribes an address to the topic when it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.iam import get_att
from infra.plan import Json, StagePlan, logical_id
from infra.stateful import dead_letter_queues

TOPIC = "AlarmTopic"
EMAIL_PARAMETER = "AlarmEmail"
EMAIL_CONDITION = "HasAlarmEmail"


def _alarm(name: str, description: str, metric: Json) -> Json:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": name,
            "AlarmDescription": description,
            **metric,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": TOPIC}],
            "OKActions": [{"Ref": TOPIC}],
        },
    }


def parameters() -> Json:
    return {
        EMAIL_PARAMETER: {
            "Type": "String",
            "Default": "",
            "Description": "An email address to subscribe to the alarm topic (empty: none)",
        }
    }


def conditions() -> Json:
    return {EMAIL_CONDITION: {"Fn::Not": [{"Fn::Equals": [{"Ref": EMAIL_PARAMETER}, ""]}]}}


def alarm_resources(plan: StagePlan, resources: Mapping[str, Any]) -> Json:
    out: Json = {
        TOPIC: {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": f"{plan.prefix}-alarms"},
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": EMAIL_CONDITION,
            "Properties": {
                "TopicArn": {"Ref": TOPIC},
                "Protocol": "email",
                "Endpoint": {"Ref": EMAIL_PARAMETER},
            },
        },
    }
    for dlq in dead_letter_queues(resources):
        queue = logical_id("queue", dlq)
        metric = {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": get_att(queue, "QueueName")}],
            "Statistic": "Maximum",
            "Period": 60,
        }
        why = f"Messages in {plan.prefix}-{dlq}: work that exhausted its retries"
        out[f"{queue}DepthAlarm"] = _alarm(f"{plan.prefix}-{dlq}-depth", why, metric)
    for function in plan.functions:
        if not function.is_worker:
            continue
        metric = {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}],
            "Statistic": "Sum",
            "Period": 300,
        }
        why = f"{function.name} failed whole invocations (crash, timeout, out of memory)"
        name = f"{plan.prefix}-{function.name}-errors"
        out[f"{function.logical_id}ErrorsAlarm"] = _alarm(name, why, metric)
    return out
