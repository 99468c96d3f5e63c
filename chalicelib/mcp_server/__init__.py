"""The MCP server (`strata mcp`): Strata's API as MCP tools, through `chalicelib.client`."""

from chalicelib.mcp_server.server import StrataTools, build_server, serve_stdio

__all__ = ["StrataTools", "build_server", "serve_stdio"]
