"""A stage's deployment plan: its resource prefix and, per Lambda function, what the
template needs to know (from .chalice/config.json through Chalice's own Config, so the
lookups are exactly Chalice's, and from infra/deploy.json).

Names: a resources.json resource `<kind>`/`<name>` has the logical id CamelName+Kind
(`RepositoriesTable`, `IndexDlqQueue`, `WebhooksGithubSecret`) and the physical name
`<prefix>-<name>` (Settings.names derives the same); functions keep Chalice's logical ids.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.config import Config
from chalice.utils import to_cfn_resource_name

from chalicelib.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESOURCES_PATH = ROOT / "infra" / "resources.json"
DEPLOY_PATH = ROOT / "infra" / "deploy.json"
CONFIG_PATH = ROOT / ".chalice" / "config.json"

MIB = 1024 * 1024
CLONE_HEADROOM_MB = 512  # /tmp beside the git cache: scratch.git, pack indexes, temp files
EPHEMERAL_RANGE_MB = (512, 10240)  # what Lambda accepts
CHALICE_LOGICAL_IDS = {"api_handler": "APIHandler"}  # Chalice's one special case
BEDROCK_DEFAULT_MODEL = "amazon.titan-embed-text-v2:0"  # adapters/bedrock_embedder.py (tested)
BEDROCK_ANSWER_MODEL = "amazon.nova-lite-v1:0"  # adapters/bedrock_chat_model.py (tested)

Json = dict[str, Any]


def load_json(path: Path) -> Json:
    with path.open(encoding="utf-8") as f:
        data: Json = json.load(f)
    return data


def without_comments(spec: Mapping[str, Any], *exclude: str) -> Json:
    return {k: v for k, v in spec.items() if not k.startswith("_") and k not in exclude}


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


def logical_id(kind: str, name: str) -> str:
    """`table`, `repositories` -> `RepositoriesTable`; `queue`, `index-dlq` -> `IndexDlqQueue`."""
    return camel(name) + camel(kind)


def function_logical_id(function: str) -> str:
    return CHALICE_LOGICAL_IDS.get(function) or to_cfn_resource_name(function)


@dataclass(frozen=True)
class FunctionPlan:
    name: str  # Chalice's function name (app.py, config.json)
    settings: Settings  # what Settings.from_env reads in this function
    timeout: int
    reserved_concurrency: int | None
    consumes: str | None  # the logical name of the queue its event source reads
    scheduled: bool
    git_clones: bool
    max_concurrency: int | None  # the event source mapping's cap (protects a downstream)
    grants: Mapping[str, list[str]]
    log_retention_days: int | None = None  # Chalice makes the log group when it is set

    @property
    def logical_id(self) -> str:
        return function_logical_id(self.name)

    @property
    def role_id(self) -> str:
        return to_cfn_resource_name(f"{self.name}_role")

    @property
    def log_group_id(self) -> str:
        return to_cfn_resource_name(f"{self.name}-log-group")

    @property
    def event_id(self) -> str:
        suffix = "-sqs-event-source" if self.consumes else "-event"
        return to_cfn_resource_name(self.name + suffix)

    @property
    def is_worker(self) -> bool:
        return self.consumes is not None or self.scheduled

    @property
    def ephemeral_storage_mb(self) -> int | None:
        """/tmp for the git cache's bound plus headroom, for a function that keeps clones."""
        if not self.git_clones:
            return None
        wanted = math.ceil(self.settings.git_cache_max_bytes / MIB) + CLONE_HEADROOM_MB
        low, high = EPHEMERAL_RANGE_MB
        if wanted > high:
            raise ValueError(f"{self.name}: a {wanted} MB /tmp is more than Lambda's {high} MB")
        return max(low, wanted)

    @property
    def embedding_model(self) -> str:
        return self.settings.embedding_model or BEDROCK_DEFAULT_MODEL

    @property
    def answer_model(self) -> str:
        return self.settings.answer_model or BEDROCK_ANSWER_MODEL


@dataclass(frozen=True)
class StagePlan:
    stage: str
    prefix: str
    retain_data: bool  # stateful resources outlive the stack (DeletionPolicy Retain)
    functions: tuple[FunctionPlan, ...]

    def function(self, name: str) -> FunctionPlan:
        return next(f for f in self.functions if f.name == name)


def _function(stage: str, name: str, spec: Mapping[str, Any], config: Json) -> FunctionPlan:
    chalice = Config(chalice_stage=stage, function_name=name, config_from_disk=config)
    env = chalice.environment_variables
    if "STRATA_RESOURCE_PREFIX" not in env:
        raise ValueError(f"stage {stage!r} sets no STRATA_RESOURCE_PREFIX for {name}")
    return FunctionPlan(
        name=name,
        settings=Settings.from_env(env),
        timeout=int(chalice.lambda_timeout or 60),
        reserved_concurrency=chalice.reserved_concurrency,
        consumes=spec.get("consumes"),
        scheduled=bool(spec.get("scheduled")),
        git_clones=bool(spec.get("git_clones")),
        max_concurrency=spec.get("max_concurrency"),
        grants=spec["grants"],
        log_retention_days=chalice.log_retention_in_days,
    )


def plan_stage(
    stage: str,
    *,
    config: Mapping[str, Any] | None = None,
    deploy: Mapping[str, Any] | None = None,
) -> StagePlan:
    config = dict(config if config is not None else load_json(CONFIG_PATH))
    deploy = deploy if deploy is not None else load_json(DEPLOY_PATH)
    if stage not in config.get("stages", {}):
        raise ValueError(f"stage {stage!r} is not in .chalice/config.json")
    functions = tuple(
        _function(stage, name, spec, config) for name, spec in deploy["functions"].items()
    )
    prefixes = {f.settings.resource_prefix for f in functions}
    if len(prefixes) != 1:
        raise ValueError(f"the functions of stage {stage!r} disagree on the prefix: {prefixes}")
    retain = stage in deploy.get("retain_data_in_stages", [])
    return StagePlan(stage, prefixes.pop(), retain, functions)
