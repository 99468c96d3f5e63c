"""What the OpenAI-compatible adapters (embeddings, chat completions) share of the protocol's
HTTP: the endpoint URL from an SDK-style base URL, the request headers, and reading an error
reply. No AWS resources; each adapter decides what a failure means for its caller.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
from urllib.parse import urlsplit

DETAIL_CHARS = 300
RETRYABLE_STATUS = frozenset({408, 425, 429})


def endpoint_url(base_url: str, route: str, what: str) -> str:
    """`base_url` + `route`, as the OpenAI SDK joins them (`https://api.openai.com/v1`,
    `http://host:11434/v1`); a bare `http://host:port` means `/v1`."""
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an http(s) URL")
    return f"{base}/{route}" if parts.path else f"{base}/v1/{route}"


def where(url: str, role: str) -> str:
    """How messages name the endpoint: its role and host, never its path or credentials."""
    return f"{role} {urlsplit(url).hostname or '?'}"


def json_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read() if exc.fp is not None else b""
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        exc.close()


def server_message(payload: bytes, api_key: str | None) -> str:
    """The `error.message` of an OpenAI-style error body, else the body's text, on one line,
    trimmed, with the key (a server may echo it) replaced by `***`."""
    text = payload.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        error = doc.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str):
            text = message
    return scrub(" ".join(text.split()), api_key)


def scrub(text: str, api_key: str | None) -> str:
    if api_key:
        text = text.replace(api_key, "***")
    return text[:DETAIL_CHARS]


def failure_reason(exc: Exception) -> str:
    """The name of what went wrong under a connection failure (its reason, else itself)."""
    reason = getattr(exc, "reason", None)
    return type(reason if isinstance(reason, Exception) else exc).__name__
