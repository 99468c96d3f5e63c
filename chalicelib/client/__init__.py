"""The Python client of Strata's HTTP API: `StrataClient`, its errors, and index targets.
The CLI and the MCP server talk to the API only through it (one HTTP client)."""

from chalicelib.client.client import StrataClient, deletion, file_change
from chalicelib.client.errors import (
    ApiError,
    BadRequest,
    ClientError,
    Conflict,
    Forbidden,
    NotFound,
    NotReady,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
    Unavailable,
    Unprocessable,
    Unreachable,
)
from chalicelib.client.targets import NotATarget, index_target
from chalicelib.client.transport import Reply, exchange, repository_path

__all__ = [
    "ApiError",
    "BadRequest",
    "ClientError",
    "Conflict",
    "Forbidden",
    "NotATarget",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "RateLimited",
    "Reply",
    "ServerError",
    "StrataClient",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "Unreachable",
    "deletion",
    "exchange",
    "file_change",
    "index_target",
    "repository_path",
]
