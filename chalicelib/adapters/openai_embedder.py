"""OpenAIEmbedder: any OpenAI-compatible `POST /v1/embeddings` endpoint, standard library only.

No AWS resources. Outside resource: the HTTP(S) endpoint at `base_url` (OpenAI, vLLM, Ollama,
llama.cpp, LiteLLM, ...), reached with urllib; `api_key`, when given, is sent as a Bearer token
and never appears in an error message.

`base_url` is what the OpenAI SDK takes (`https://api.openai.com/v1`, `http://host:11434/v1`);
a bare `http://host:port` means `/v1`. Texts go in requests of at most `max_batch`, and each
reply's rows are put back in input order by their `index`.

`dimensions`: when given, it is sent with every request (models that can shorten their vectors
do so; others may refuse it) and is part of `model_id`. When omitted, the server's own width is
learned from the first reply: `dimensions` reads 0 until then, so a caller that needs it up
front (to size an index before embedding) must pass it.

Errors: 408, 429, 5xx, connection failures and timeouts are TransientError; any other 4xx is a
PermanentError carrying the server's message (trimmed). A 200 whose body is not JSON is taken as
transient (a proxy's error page or a reply cut short), bounded by the queue's retries; JSON of
the wrong shape (missing rows, wrong count or width) is permanent: that server will not change
its mind on a retry.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chalicelib.adapters import openai_http
from chalicelib.domain.vectors import model_key, unit_rows
from chalicelib.errors import PermanentError, StrataError, TransientError
from chalicelib.observability import traced

# Most embedding models take 512-8,192 tokens; longer input is cut here rather than refused.
MAX_CHARS = 12_000


class OpenAIEmbedder:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        dimensions: int | None = None,
        timeout: float = 30,
        max_batch: int = 64,
    ) -> None:
        if max_batch < 1 or timeout <= 0 or (dimensions is not None and dimensions < 1):
            raise ValueError("max_batch, timeout and dimensions must be positive")
        self._url = openai_http.endpoint_url(base_url, "embeddings", "base_url")
        self._where = openai_http.where(self._url, "embedding endpoint")
        self._model = model
        self._api_key = api_key
        self._requested_dimensions = dimensions
        self._timeout = timeout
        self._max_batch = max_batch
        self.dimensions = dimensions or 0
        suffix = f"-{dimensions}" if dimensions else ""
        self.model_id = model_key(f"openai-{model}{suffix}")

    @traced
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts = [
            self._embed_batch(texts[start : start + self._max_batch])
            for start in range(0, len(texts), self._max_batch)
        ]
        return unit_rows(np.concatenate(parts), self._where)

    def _embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        # Servers refuse an empty input string; a blank text embeds as one space.
        body: dict[str, Any] = {
            "model": self._model,
            "input": [t[:MAX_CHARS] or " " for t in texts],
        }
        if self._requested_dimensions:
            body["dimensions"] = self._requested_dimensions
        reply = self._post(json.dumps(body).encode("utf-8"))
        matrix = self._rows(reply, len(texts))
        if not self.dimensions:
            self.dimensions = matrix.shape[1]
        elif matrix.shape[1] != self.dimensions:
            raise PermanentError(
                f"{self._where} returned vectors of {matrix.shape[1]} values, "
                f"expected {self.dimensions}"
            )
        return matrix

    def _post(self, data: bytes) -> Any:
        headers = openai_http.json_headers(self._api_key)
        request = urllib.request.Request(self._url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc.code, openai_http.error_body(exc)) from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            # URLError, timeouts, resets and replies cut short: the endpoint may answer later.
            why = openai_http.failure_reason(exc)
            raise TransientError(f"{self._where} could not be reached ({why})") from exc
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise TransientError(f"{self._where} sent a reply that is not JSON") from exc

    def _refusal(self, status: int, payload: bytes) -> StrataError:
        detail = openai_http.server_message(payload, self._api_key)
        said = f": {detail}" if detail else ""
        if status in openai_http.RETRYABLE_STATUS or status >= 500:
            return TransientError(f"{self._where} is unavailable (HTTP {status}){said}")
        if status in (401, 403):
            return PermanentError(f"{self._where} refused the credentials (HTTP {status}){said}")
        return PermanentError(f"{self._where} refused the request (HTTP {status}){said}")

    def _rows(self, reply: Any, expected: int) -> NDArray[np.float32]:
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, list):
            raise PermanentError(f"{self._where} replied without a `data` list")
        try:
            ordered = sorted(data, key=lambda item: int(item["index"]))
            indexes = [int(item["index"]) for item in ordered]
            matrix = np.asarray([item["embedding"] for item in ordered], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentError(f"{self._where} replied with malformed rows") from exc
        if indexes != list(range(expected)):
            raise PermanentError(
                f"{self._where} returned {len(data)} embeddings for {expected} inputs"
            )
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            raise PermanentError(f"{self._where} returned vectors of uneven or zero width")
        return matrix
