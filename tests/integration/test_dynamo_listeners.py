"""What only DynamoListenerStore can get wrong: the table's schema, the items of a connection
and its subscriptions, and forgetting all of them on disconnect."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.dynamo_listeners import DynamoListenerStore
from chalicelib.adapters.dynamo_models import ListenerItem
from chalicelib.domain.identity import Caller, Scope
from chalicelib.domain.live import CallbackRegistration, Connection
from chalicelib.errors import ConnectionGone
from chalicelib.local.provision import load_resources
from tests.integration.conftest import MotoWorld

T0 = 1_700_000_000.0
ENDPOINT = "https://abc.execute-api.us-east-1.amazonaws.com/api"


def test_model_keys_and_ttl_match_the_resources_file() -> None:
    spec = load_resources()["tables"]["listeners"]
    schema = ListenerItem._get_schema()

    def ordered(rows: Any) -> list[Any]:
        return sorted(rows, key=lambda row: row["AttributeName"])

    assert ordered(schema["key_schema"]) == ordered(spec["KeySchema"])
    assert ordered(schema["attribute_definitions"]) == ordered(spec["AttributeDefinitions"])
    assert spec["TimeToLiveSpecification"]["AttributeName"] in ListenerItem.get_attributes()


def test_a_connection_subscribes_and_is_forgotten_with_its_subscriptions(
    world: MotoWorld,
) -> None:
    store = DynamoListenerStore(world.models)
    caller = Caller("abcdefghijkl", "acme", Scope.INDEX)
    store.connect(Connection("c1", caller, ENDPOINT, T0), T0 + 60)
    found = store.connection("c1")
    assert found is not None and found.caller == caller and found.endpoint == ENDPOINT
    store.subscribe(found, "github:acme:a", T0 + 60)
    store.subscribe(found, "github:acme:b", T0 + 60)
    registration = CallbackRegistration("github:acme:a", "acme", "https://h/x", "sealed", T0)
    store.register_callback(registration, T0 + 600)

    assert {(x.kind, x.id, x.endpoint) for x in store.listeners("github:acme:a")} == {
        ("connection", "c1", ENDPOINT),
        ("callback", "acme", None),
    }
    connection = store.connection("c1")
    assert connection is not None
    assert connection.repositories == {"github:acme:a", "github:acme:b"}
    assert store.callback("github:acme:a", "acme") == registration
    assert store.callback("github:acme:a", "other") is None

    store.unsubscribe(connection, "github:acme:b")
    assert store.listeners("github:acme:b") == []
    store.disconnect("c1")
    store.disconnect("c1")  # idempotent
    assert store.connection("c1") is None
    assert [x.kind for x in store.listeners("github:acme:a")] == ["callback"]
    with pytest.raises(ConnectionGone):
        store.subscribe(connection, "github:acme:a", T0 + 60)  # no item is left behind
    assert [x.kind for x in store.listeners("github:acme:a")] == ["callback"]
