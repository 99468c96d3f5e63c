"""ApiGatewayConnections: posts to WebSocket connections through API Gateway's management
API (`apigatewaymanagementapi`), what Chalice's `app.websocket_api.send` calls.

Chalice's WebsocketAPI is configured only inside a WebSocket handler's invocation (from the
event's API id); the workers that publish are SQS handlers, so this adapter takes the
endpoint each connection recorded when it opened and keeps one client per endpoint. On the
local stack the endpoint is the loopback management API of chalicelib/local/ws_gateway.py,
which the same boto3 client talks to.

AWS resources and IAM actions: the WebSocket API's connections, execute-api:ManageConnections
on `arn:aws:execute-api:{region}:{account}:{api}/{stage}/POST/@connections/*` (and DELETE
for `close`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import translate
from chalicelib.errors import ConnectionGone

ClientFactory = Callable[[str], Any]  # endpoint URL -> apigatewaymanagementapi client


def _gone(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return bool(error.get("Code") == "GoneException" or status == 410)


class ApiGatewayConnections:
    def __init__(self, client_for: ClientFactory) -> None:
        self._client_for = client_for
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, endpoint: str) -> Any:
        with self._lock:
            if endpoint not in self._clients:
                self._clients[endpoint] = self._client_for(endpoint)
            return self._clients[endpoint]

    def post(self, endpoint: str, connection_id: str, data: bytes) -> None:
        try:
            self._client(endpoint).post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            if _gone(exc):
                raise ConnectionGone(f"connection {connection_id} is gone") from exc
            raise translate(exc, f"post to connection {connection_id}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"post to connection {connection_id}") from exc

    def close(self, endpoint: str, connection_id: str) -> None:
        try:
            self._client(endpoint).delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if _gone(exc):
                return
            raise translate(exc, f"close connection {connection_id}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"close connection {connection_id}") from exc
