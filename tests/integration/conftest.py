"""Fixtures for adapters on moto: credentials first, then `mock_aws()`, then clients.

Function-scoped: `aws_env`, `settings`, `provisioned`, `dynamo_stores` (a fresh moto per test).
Module-scoped: `moto_world` is one moto, one provisioning and one set of bound models and stores
per test module (`world` is the same with empty tables); setting up costs about 0.5 s, mostly
botocore sessions (every pynamodb model opens its own). Don't mix the two kinds in one module:
a nested `mock_aws()` shares the outer one's state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.dynamo_models import Models, bind_models
from chalicelib.adapters.dynamo_stores import (
    DynamoConversationStore,
    DynamoJobStore,
    DynamoLockManager,
    DynamoRepoStore,
)
from chalicelib.local.provision import provision
from chalicelib.settings import Settings
from tests.fakes.stores import StoreSet

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_UNSET = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every SDK at fake credentials so nothing can reach a real account."""
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for key in _UNSET:
        monkeypatch.delenv(key, raising=False)


def bind_for(settings: Settings) -> Models:
    return bind_models(settings.names.tables, settings.region, settings.endpoint_url)


def dynamo_store_set(models: Models) -> StoreSet:
    return StoreSet(
        repos=DynamoRepoStore(models),
        locks=DynamoLockManager(models),
        jobs=DynamoJobStore(models),
        conversations=DynamoConversationStore(models),
    )


@dataclass(frozen=True)
class MotoWorld:
    settings: Settings
    models: Models
    stores: StoreSet
    client: Any  # a boto3 DynamoDB client, to look at raw items

    def wipe(self) -> None:
        """Delete every item of every table, keeping the tables."""
        for table in self.settings.names.tables.values():
            schema = self.client.describe_table(TableName=table)["Table"]["KeySchema"]
            keys = [k["AttributeName"] for k in schema]  # hash key, and range key if any
            names = {f"#k{i}": k for i, k in enumerate(keys)}
            for page in self.client.get_paginator("scan").paginate(
                TableName=table,
                ProjectionExpression=", ".join(names),
                ExpressionAttributeNames=names,
            ):
                for item in page["Items"]:
                    self.client.delete_item(TableName=table, Key={k: item[k] for k in keys})


@contextmanager
def moto_world_for(settings: Settings) -> Iterator[MotoWorld]:
    """A provisioned moto with stores bound to it, for the duration of the block."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_fake_credentials(monkeypatch)
        with mock_aws():
            provision(settings)
            models = bind_for(settings)
            client = boto3.client("dynamodb", region_name=settings.region)
            yield MotoWorld(settings, models, dynamo_store_set(models), client)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_fake_credentials(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def settings() -> Settings:
    return Settings(resource_prefix="test")


@pytest.fixture
def provisioned(aws_env: None, settings: Settings) -> Settings:
    provision(settings)
    return settings


@pytest.fixture
def dynamo_models(provisioned: Settings) -> Models:
    return bind_for(provisioned)


@pytest.fixture
def dynamo_stores(dynamo_models: Models) -> StoreSet:
    return dynamo_store_set(dynamo_models)


@pytest.fixture(scope="module")
def moto_world() -> Iterator[MotoWorld]:
    with moto_world_for(Settings(resource_prefix="shared")) as world:
        yield world


@pytest.fixture
def world(moto_world: MotoWorld) -> MotoWorld:
    """The module's MotoWorld with empty tables."""
    moto_world.wipe()
    return moto_world
