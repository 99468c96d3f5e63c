"""Routes: symbols and the code graph of a repository's current generation."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api import views
from chalicelib.api.http import Incoming, endpoint, reply
from chalicelib.api.models import NodeResponse, SorryResponse, SymbolsResponse, WavesResponse
from chalicelib.api.wire import Int, Text
from chalicelib.services.graph_queries import MAX_DEPTH, MAX_LIMIT, MAX_NAME

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/repositories/{repository_id}/symbols",
    query={"q": Text(MAX_NAME, ""), "kind": Text(50), "limit": Int(1, MAX_LIMIT, 20)},
    responses={200: SymbolsResponse},
    not_ready=True,
)
def symbols(req: Incoming) -> Response:
    """Symbol definitions by name (and kind), best match first."""
    q = req.query
    graph = bootstrap.graph(req.identity)
    found = graph.symbols(req.path["repository_id"], q["q"], q["kind"], q["limit"])
    return reply(SymbolsResponse, views.symbol_matches(found))


@endpoint(
    bp,
    "/repositories/{repository_id}/graph/nodes/{name}",
    query={"direction": Text(20, "dependencies"), "depth": Int(1, MAX_DEPTH, 1)},
    responses={200: NodeResponse},
    not_ready=True,
)
def graph_node(req: Incoming) -> Response:
    """A symbol or file and its dependencies or dependents, to a depth."""
    q = req.query
    rid, name = req.path["repository_id"], req.path["name"]
    graph = bootstrap.graph(req.identity)
    around = graph.node(rid, name, q["direction"], q["depth"])
    return reply(NodeResponse, views.neighbourhood(around))


@endpoint(
    bp, "/repositories/{repository_id}/graph/waves", responses={200: WavesResponse}, not_ready=True
)
def graph_waves(req: Incoming) -> Response:
    """Build waves: the graph's topological levels, cycles kept together."""
    found = bootstrap.graph(req.identity).waves(req.path["repository_id"])
    return reply(WavesResponse, views.build_waves(found))


@endpoint(
    bp, "/repositories/{repository_id}/graph/sorry", responses={200: SorryResponse}, not_ready=True
)
def graph_sorry(req: Incoming) -> Response:
    """Incomplete declarations (`sorry`) and everything they block."""
    found = bootstrap.graph(req.identity).sorry(req.path["repository_id"])
    return reply(SorryResponse, views.incomplete(found))
