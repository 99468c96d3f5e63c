"""OpenAIChatModel: any OpenAI-compatible `POST /v1/chat/completions` endpoint (OpenAI, vLLM,
llama.cpp's server, Ollama, LiteLLM, ...), standard library only, for chat answers.

No AWS resources. Outside resource: the HTTP(S) endpoint at `base_url`, reached with urllib;
`api_key`, when given, is sent as a Bearer token and never appears in an error message or a
log line (a server that echoes it has it replaced by `***`).

`base_url` is what the OpenAI SDK takes (`https://api.openai.com/v1`, `http://host:11434/v1`);
a bare `http://host:port` means `/v1`. The request is the plain protocol: `model`, a
`system` and a `user` message, `max_tokens` (the reply cap of `limits`) and `temperature` 0.
The reply is `choices[0].message.content`; `finish_reason` `length` marks a reply cut short.

Errors: 408, 425, 429, 5xx, connection failures and timeouts are ModelUnavailable (with the
server's `Retry-After` when it sent one); 401/403 and other 4xx are PermanentError carrying
the server's message (trimmed, key scrubbed); a 200 that is not JSON or not of the protocol's
shape is ModelUnavailable (a proxy's page, a reply cut short). ModelUnavailable messages
name no host: the client of the chat route reads them.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

from chalicelib.adapters import openai_http
from chalicelib.domain.answers import Completion, ModelLimits, Prompt
from chalicelib.errors import ModelUnavailable, PermanentError, StrataError
from chalicelib.observability import traced

_MAX_RETRY_AFTER = 300


class OpenAIChatModel:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model_id: str,
        *,
        api_key: str | None = None,
        limits: ModelLimits | None = None,
        timeout: float = 20.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if not model_id:
            raise ValueError("an OpenAI-compatible endpoint needs a model id")
        self._url = openai_http.endpoint_url(base_url, "chat/completions", "the answer endpoint")
        self._where = openai_http.where(self._url, "answer endpoint")
        self.model_id = model_id
        self.limits = limits or ModelLimits()
        self._api_key = api_key
        self._timeout = timeout

    def __repr__(self) -> str:  # no key, ever
        return f"OpenAIChatModel({self._where!r}, {self.model_id!r})"

    @traced
    def complete(self, prompt: Prompt) -> Completion:
        messages = [{"role": "system", "content": prompt.system}]
        messages += [{"role": m.role, "content": m.content} for m in prompt.messages]
        body = {
            "model": self.model_id,
            "messages": messages,
            "max_tokens": min(prompt.max_output_tokens, self.limits.output_tokens),
            "temperature": 0,
        }
        return self._completion(self._post(json.dumps(body).encode("utf-8")))

    def _post(self, data: bytes) -> Any:
        headers = openai_http.json_headers(self._api_key)
        request = urllib.request.Request(self._url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise self._refusal(exc.code, openai_http.error_body(exc), exc.headers) from None
        except TimeoutError as exc:
            raise ModelUnavailable("it timed out") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if isinstance(getattr(exc, "reason", None), TimeoutError):
                raise ModelUnavailable("it timed out") from exc
            why = openai_http.failure_reason(exc)
            raise ModelUnavailable(f"it could not be reached ({why})") from exc
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise ModelUnavailable("it sent a reply that is not JSON") from exc

    def _refusal(self, status: int, payload: bytes, headers: Message | None) -> StrataError:
        # `from None` above: the HTTPError (its headers, its body) stays out of tracebacks.
        detail = openai_http.server_message(payload, self._api_key)
        said = f": {detail}" if detail else ""
        if status in openai_http.RETRYABLE_STATUS or status >= 500:
            return ModelUnavailable(f"HTTP {status}", retry_after=_retry_after(headers))
        if status in (401, 403):
            return PermanentError(f"{self._where} refused the credentials (HTTP {status}){said}")
        return PermanentError(f"{self._where} refused the request (HTTP {status}){said}")

    def _completion(self, reply: Any) -> Completion:
        try:
            choice = reply["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelUnavailable("it sent a reply without a message") from exc
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        finish = str(choice.get("finish_reason") or "stop")
        return Completion(
            text=content if isinstance(content, str) else "",
            stop_reason={"stop": "end", "length": "length"}.get(finish, finish),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
        )


def _retry_after(headers: Message | None) -> int:
    """The server's Retry-After in whole seconds (5 when absent or a date)."""
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = int(float(raw)) if raw else 5
    except ValueError:
        seconds = 5
    return max(1, min(seconds, _MAX_RETRY_AFTER))
