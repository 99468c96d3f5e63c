"""BedrockChatModel: a Bedrock model through the Converse API, for chat answers.

AWS resources: the model named by `model_id` (default `amazon.nova-lite-v1:0`) in the
client's region; a cross-region inference profile id (`us.…`, `eu.…`, `global.…`) works
as well. IAM actions: `bedrock:InvokeModel` (Converse is authorised by it) on
`arn:aws:bedrock:<region>::foundation-model/<model>`, and for a profile on the profile
(`arn:aws:bedrock:<region>:<account>:inference-profile/<id>`) and the models it routes to.

The reply is capped at `limits.output_tokens`; the prompt was built for
`limits.context_tokens` (domain/prompting.py). Throttling and a model not ready yet are
retried with exponential backoff and full jitter, at most `attempts` calls and never past
`deadline_seconds` from the first; the client itself must not retry (bootstrap gives it
`max_attempts=1` and the read timeout). What is left of a throttle, a timeout, a 5xx or an
unreachable endpoint is a ModelUnavailable; a refused, unknown or misconfigured model, or
a refused request (an input too long for it), a PermanentError.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ParamValidationError,
    ReadTimeoutError,
)

from chalicelib.domain.answers import Completion, ModelLimits, Prompt
from chalicelib.errors import ModelUnavailable, PermanentError, StrataError
from chalicelib.observability import traced

DEFAULT_MODEL = "amazon.nova-lite-v1:0"
_RETRIED = {
    "ThrottlingException",
    "ServiceQuotaExceededException",
    "ModelNotReadyException",
    "ServiceUnavailableException",
    "InternalServerException",
}
_UNAVAILABLE = {"ModelTimeoutException", *_RETRIED}
_REFUSALS = {
    "AccessDeniedException": "access to the model was denied (check bedrock:InvokeModel and "
    "that model access is enabled in this region)",
    "ResourceNotFoundException": "the model does not exist in this region",
    "ValidationException": "the request was rejected as invalid",
    "ModelErrorException": "the model failed to process the input",
}
_EXPLAINED = {"ValidationException", "ModelErrorException"}
_DETAIL_CHARS = 200
_STOP_REASONS = {
    "end_turn": "end",
    "stop_sequence": "end",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}


class BedrockChatModel:
    name = "bedrock"

    def __init__(
        self,
        client: Any,
        model_id: str = DEFAULT_MODEL,
        *,
        limits: ModelLimits | None = None,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        deadline_seconds: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if attempts < 1 or backoff_seconds < 0 or deadline_seconds <= 0:
            raise ValueError("attempts, backoff and deadline must be positive")
        self._client = client
        self.model_id = model_id
        self.limits = limits or ModelLimits()
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._deadline = deadline_seconds
        self._sleep = sleep
        self._monotonic = monotonic

    @traced
    def complete(self, prompt: Prompt) -> Completion:
        request = self._request(prompt)
        deadline = self._monotonic() + self._deadline
        for attempt in range(1, self._attempts + 1):
            try:
                return self._completion(self._client.converse(**request))
            except (ClientError, BotoCoreError) as exc:
                pause = self._backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
                last = attempt == self._attempts or self._monotonic() + pause >= deadline
                if last or not _retried(exc):
                    raise self._translate(exc) from exc
                self._sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _request(self, prompt: Prompt) -> dict[str, Any]:
        return {
            "modelId": self.model_id,
            "system": [{"text": prompt.system}],
            "messages": [
                {"role": m.role, "content": [{"text": m.content}]} for m in prompt.messages
            ],
            "inferenceConfig": {
                "maxTokens": min(prompt.max_output_tokens, self.limits.output_tokens),
                "temperature": 0.0,
            },
        }

    def _completion(self, response: Any) -> Completion:
        try:
            content = response["output"]["message"]["content"]
            text = "".join(block.get("text", "") for block in content)
        except (KeyError, TypeError) as exc:
            raise ModelUnavailable("it sent a reply of an unknown shape") from exc
        usage = response.get("usage") or {}
        reason = str(response.get("stopReason", "end_turn"))
        return Completion(
            text=text,
            stop_reason=_STOP_REASONS.get(reason, reason),
            input_tokens=usage.get("inputTokens"),
            output_tokens=usage.get("outputTokens"),
        )

    def _translate(self, exc: Exception) -> StrataError:
        where = f"Bedrock model {self.model_id}"
        if isinstance(exc, ParamValidationError):
            return PermanentError(f"{where}: the request was malformed")
        if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
            return ModelUnavailable("it timed out")
        if not isinstance(exc, ClientError):
            return ModelUnavailable(f"it could not be reached ({type(exc).__name__})")
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _UNAVAILABLE or status in (408, 429) or status >= 500:
            return ModelUnavailable(f"{code or status}", retry_after=_retry_after(code))
        reason = _REFUSALS.get(code, f"the call failed ({code or status})")
        if code in _EXPLAINED:
            detail = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
            reason += f": {detail[:_DETAIL_CHARS]}" if detail else ""
        return PermanentError(f"{where}: {reason}")


def _retried(exc: Exception) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code in _RETRIED or status == 429


def _retry_after(code: str) -> int:
    """Throttling clears within seconds; a model still loading or a timeout takes longer."""
    return 5 if code in ("ThrottlingException", "ServiceQuotaExceededException") else 15
