"""Strata's Chalice app: create it, register the blueprints and the middleware (observability
around every invocation, then the uniform error shape for HTTP)."""

from chalice.app import Chalice

from chalicelib import bootstrap, observability
from chalicelib.api import (
    checks,
    commits,
    docs,
    events,
    graph,
    health,
    keys,
    queries,
    repositories,
    webhooks,
)
from chalicelib.api.http import uniform_errors
from chalicelib.workers import checks as check_workers
from chalicelib.workers import indexing, sweep

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
app.register_blueprint(keys.bp)
app.register_blueprint(docs.bp)
