"""Routes: symbols and the code graph of a repository's current generation."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import bootstrap
from chalicelib.api.http import Incoming, Int, Text, endpoint, json_response
from chalicelib.services.graph_queries import MAX_DEPTH, MAX_LIMIT, MAX_NAME

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/repositories/{repository_id}/symbols",
    query={"q": Text(MAX_NAME, ""), "kind": Text(50), "limit": Int(1, MAX_LIMIT, 20)},
)
def symbols(req: Incoming) -> Response:
    q = req.query
    graph = bootstrap.graph(req.identity)
    found = graph.symbols(req.path["repository_id"], q["q"], q["kind"], q["limit"])
    return json_response(found)


@endpoint(
    bp,
    "/repositories/{repository_id}/graph/nodes/{name}",
    query={"direction": Text(20, "dependencies"), "depth": Int(1, MAX_DEPTH, 1)},
)
def graph_node(req: Incoming) -> Response:
    q = req.query
    rid, name = req.path["repository_id"], req.path["name"]
    graph = bootstrap.graph(req.identity)
    return json_response(graph.node(rid, name, q["direction"], q["depth"]))


@endpoint(bp, "/repositories/{repository_id}/graph/waves")
def graph_waves(req: Incoming) -> Response:
    return json_response(bootstrap.graph(req.identity).waves(req.path["repository_id"]))


@endpoint(bp, "/repositories/{repository_id}/graph/sorry")
def graph_sorry(req: Incoming) -> Response:
    return json_response(bootstrap.graph(req.identity).sorry(req.path["repository_id"]))
