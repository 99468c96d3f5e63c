"""Strata's Chalice app: create it, register the blueprints and the middleware (observability
around every invocation, then the uniform error shape for HTTP)."""

from typing import Any

from chalice.app import Chalice, WebsocketEvent

from chalicelib import bootstrap, observability
from chalicelib.api import (
    checks,
    commits,
    docs,
    events,
    graph,
    health,
    keys,
    live,
    queries,
    repositories,
    webhooks,
)
from chalicelib.api.http import uniform_errors
from chalicelib.workers import archive, indexing, sweep
from chalicelib.workers import callbacks as callback_workers
from chalicelib.workers import checks as check_workers

app = Chalice(app_name="strata")
app.register_middleware(observability.middleware(bootstrap.telemetry), "all")
app.register_middleware(uniform_errors, "http")
app.register_blueprint(health.bp)
app.register_blueprint(repositories.bp)
app.register_blueprint(queries.bp)
app.register_blueprint(graph.bp)
app.register_blueprint(checks.bp)
app.register_blueprint(commits.bp)
app.register_blueprint(indexing.bp)
app.register_blueprint(check_workers.bp)
app.register_blueprint(webhooks.bp)
app.register_blueprint(events.bp)
app.register_blueprint(sweep.bp)
app.register_blueprint(archive.bp)
app.register_blueprint(keys.bp)
app.register_blueprint(docs.bp)
app.register_blueprint(callback_workers.bp)

# Live status over API Gateway's WebSocket API (ADR 24). Declared on the app: Chalice wraps
# WebSocket handlers (WebsocketEvent, middleware) only there, and names them `app.<name>`.
app.experimental_feature_flags.update(["WEBSOCKETS"])


@app.on_ws_connect()
def live_connect(event: WebsocketEvent) -> dict[str, Any]:
    return live.connect(event)


@app.on_ws_message()
def live_message(event: WebsocketEvent) -> dict[str, Any]:
    return live.message(event)


@app.on_ws_disconnect()
def live_disconnect(event: WebsocketEvent) -> dict[str, Any]:
    return live.disconnect(event)
