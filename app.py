"""Strata's Chalice app: create it and register the blueprints. No logic lives here."""

from chalice.app import Chalice

from chalicelib.api import events, graph, health, queries, repositories, webhooks
from chalicelib.workers import indexing, sweep

app = Chalice(app_name="strata")
app.register_blueprint(health.bp)
app.register_blueprint(repositories.bp)
app.register_blueprint(queries.bp)
app.register_blueprint(graph.bp)
app.register_blueprint(indexing.bp)
app.register_blueprint(webhooks.bp)
app.register_blueprint(events.bp)
app.register_blueprint(sweep.bp)
