"""DynamoListenerStore: open WebSocket connections and each repository's listeners.

AWS resources and IAM actions:
- `{prefix}-listeners` (key topic + listener, TTL on `expires_at`): dynamodb:PutItem,
  dynamodb:GetItem, dynamodb:UpdateItem, dynamodb:DeleteItem, dynamodb:Query.

Items (no index needed: every read names its partition):
- topic `connection#<id>`, listener `connection#<id>`: the connection (who opened it, its
  management endpoint, the set of repositories it follows);
- topic `repository#<id>`, listener `connection#<id>`: a subscription, with the endpoint, so
  a publisher posts with one Query and no second read;
- topic `repository#<id>`, listener `callback#<tenant>`: a tenant's callback URL and its
  signing secret, sealed.
"""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from chalicelib.adapters.dynamo_errors import (
    DYNAMO_ERRORS,
    is_condition_failure,
    translate,
    translated,
)
from chalicelib.adapters.dynamo_models import ListenerItem, Models
from chalicelib.domain.identity import Caller, Scope
from chalicelib.domain.live import CallbackRegistration, Connection, Listener
from chalicelib.errors import ConnectionGone

_CONNECTION = "connection#"
_REPOSITORY = "repository#"
_CALLBACK = "callback#"


def _connection(item: ListenerItem) -> Connection:
    caller = Caller(item.key_id or "", item.tenant or "", Scope(int(item.scope or Scope.READ)))
    return Connection(
        connection_id=item.listener.removeprefix(_CONNECTION),
        caller=caller,
        endpoint=item.endpoint or "",
        connected_at=float(item.connected_at or 0),
        repositories=frozenset(item.repositories or ()),
    )


class DynamoListenerStore:
    def __init__(self, models: Models) -> None:
        self._model = models.listeners

    def connect(self, connection: Connection, expires_at: float) -> None:
        key = _CONNECTION + connection.connection_id
        item = self._model(
            key,
            key,
            key_id=connection.caller.key_id,
            tenant=connection.caller.tenant,
            scope=int(connection.caller.scope),
            endpoint=connection.endpoint,
            connected_at=connection.connected_at,
            expires_at=int(expires_at),
        )
        with translated(f"record connection {connection.connection_id}"):
            item.save()

    def connection(self, connection_id: str) -> Connection | None:
        key = _CONNECTION + connection_id
        with translated(f"read connection {connection_id}"):
            try:
                return _connection(self._model.get(key, key, consistent_read=True))
            except DoesNotExist:
                return None

    def subscribe(self, connection: Connection, repository_id: str, expires_at: float) -> None:
        key = _CONNECTION + connection.connection_id
        m = self._model
        try:
            # The connection first, on condition that it still exists: a subscription never
            # outlives a disconnect that ran meanwhile.
            m(key, key).update(
                actions=[m.repositories.add({repository_id})], condition=m.topic.exists()
            )
        except DYNAMO_ERRORS as exc:
            if is_condition_failure(exc):
                raise ConnectionGone(f"connection {connection.connection_id} is closed") from exc
            raise translate(exc, f"subscribe {connection.connection_id}") from exc
        with translated(f"subscribe {connection.connection_id} to {repository_id}"):
            m(
                _REPOSITORY + repository_id,
                key,
                tenant=connection.caller.tenant,
                endpoint=connection.endpoint,
                expires_at=int(expires_at),
            ).save()

    def unsubscribe(self, connection: Connection, repository_id: str) -> None:
        key = _CONNECTION + connection.connection_id
        m = self._model
        with translated(f"unsubscribe {connection.connection_id} from {repository_id}"):
            m(_REPOSITORY + repository_id, key).delete()
            m(key, key).update(actions=[m.repositories.delete({repository_id})])

    def disconnect(self, connection_id: str) -> None:
        found = self.connection(connection_id)
        key = _CONNECTION + connection_id
        with translated(f"forget connection {connection_id}"):
            for rid in found.repositories if found else ():
                self._model(_REPOSITORY + rid, key).delete()
            self._model(key, key).delete()

    def listeners(self, repository_id: str) -> list[Listener]:
        out: list[Listener] = []
        with translated(f"list listeners of {repository_id}"):
            for item in self._model.query(_REPOSITORY + repository_id):
                if item.listener.startswith(_CONNECTION):
                    cid = item.listener.removeprefix(_CONNECTION)
                    out.append(Listener("connection", cid, item.endpoint))
                elif item.listener.startswith(_CALLBACK):
                    out.append(Listener("callback", item.listener.removeprefix(_CALLBACK)))
        return out

    def register_callback(self, registration: CallbackRegistration, expires_at: float) -> None:
        r = registration
        item = self._model(
            _REPOSITORY + r.repository_id,
            _CALLBACK + r.tenant,
            tenant=r.tenant,
            url=r.url,
            sealed_secret=r.sealed_secret,
            registered_at=r.registered_at,
            expires_at=int(expires_at),
        )
        with translated(f"register a callback for {r.repository_id}"):
            item.save()

    def callback(self, repository_id: str, tenant: str) -> CallbackRegistration | None:
        with translated(f"read the callback of {repository_id}"):
            try:
                item = self._model.get(
                    _REPOSITORY + repository_id, _CALLBACK + tenant, consistent_read=True
                )
            except DoesNotExist:
                return None
        if not item.url or not item.sealed_secret:
            return None
        return CallbackRegistration(
            repository_id, tenant, item.url, item.sealed_secret, float(item.registered_at or 0)
        )
