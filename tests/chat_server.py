"""A small OpenAI-compatible chat server on 127.0.0.1 for tests: the real protocol
(`POST /v1/chat/completions`, `choices[0].message.content`), replies scripted by a responder
that reads the request; `serve_chat()` starts it and stops it after."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "local-coder-7b"
HEADER = re.compile(r'<<<passage \w+ id=(P\d+) path="([^"]+)" lines=(\d+)-(\d+)>>>')


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


# A reply is (status, body bytes, extra headers), made from the decoded request body.
Responder = Callable[[dict[str, Any]], tuple[int, bytes, dict[str, str]]]


def completion(content: str, finish: str = "stop") -> tuple[int, bytes, dict[str, str]]:
    doc = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 812, "completion_tokens": 64, "total_tokens": 876},
    }
    return 200, json.dumps(doc).encode(), {}


def passages_in(request: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    """(id, path, first line, last line) of every passage the user message shows."""
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return [(i, p, int(a), int(b)) for i, p, a, b in HEADER.findall(user)]


@dataclass
class ChatEndpoint:
    url: str
    received: list[Received] = field(default_factory=list)
    responder: Responder = field(default=lambda _: completion('{"answer": "ok"}'))
    release: threading.Event = field(default_factory=threading.Event)


def handler_for(endpoint: ChatEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            endpoint.received.append(Received(self.path, dict(self.headers.items()), body))
            status, payload, extra = endpoint.responder(body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_chat(responder: Responder | None = None) -> Iterator[ChatEndpoint]:
    """A running endpoint (its `url` ends in /v1), stopped when the block ends."""
    endpoint = ChatEndpoint(url="")
    if responder is not None:
        endpoint.responder = responder
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(endpoint))
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        endpoint.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
