"""The store contract runs over the in-memory fakes and the DynamoDB stores on moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.settings import Settings
from tests.fakes.stores import StoreSet, fake_store_set
from tests.integration.conftest import MotoWorld, moto_world_for


@pytest.fixture(scope="module")
def moto_world() -> Iterator[MotoWorld]:
    with moto_world_for(Settings(resource_prefix="contract")) as world:
        yield world


@pytest.fixture(params=["fake", "dynamo"])
def stores(request: pytest.FixtureRequest) -> StoreSet:
    if request.param == "fake":
        return fake_store_set()
    world: MotoWorld = request.getfixturevalue("moto_world")
    world.wipe()
    return world.stores
