"""BedrockEmbedder: Amazon Titan Text Embeddings v2 through Bedrock's InvokeModel.

AWS resources: the Bedrock foundation model named by `model` (default
`amazon.titan-embed-text-v2:0`) in the client's region.
IAM actions: `bedrock:InvokeModel` on `arn:aws:bedrock:<region>::foundation-model/<model>`.

Titan v2 embeds one text per call, so texts are sent concurrently on a small thread pool
(boto3 clients are thread-safe) and the results are put back in input order. Throttling,
timeouts and 5xx are TransientError; a refused, unknown or misconfigured model is a
PermanentError whose message says which.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from numpy.typing import NDArray

from chalicelib.domain.vectors import model_key, unit_rows
from chalicelib.errors import PermanentError, StrataError, TransientError
from chalicelib.observability import traced

DEFAULT_MODEL = "amazon.titan-embed-text-v2:0"
# Titan v2 takes at most 8,192 tokens and 50,000 characters. Code runs about 3 characters a
# token; 12,000 characters stays under the token cap even for dense or non-Latin text.
MAX_CHARS = 12_000

_TRANSIENT_CODES = {
    "ThrottlingException",
    "ModelTimeoutException",
    "ModelNotReadyException",
    "ServiceUnavailableException",
    "InternalServerException",
    "ServiceQuotaExceededException",
}
_PERMANENT_REASONS = {
    "AccessDeniedException": "access to the model was denied (check bedrock:InvokeModel and "
    "that model access is enabled in this region)",
    "ResourceNotFoundException": "the model does not exist in this region",
    "ValidationException": "the request was rejected as invalid",
    "ModelErrorException": "the model failed to process the input",
}

# Errors whose service message says what was wrong with the input (and carries no account data).
_EXPLAINED_CODES = {"ValidationException", "ModelErrorException"}
_DETAIL_CHARS = 200


class BedrockEmbedder:
    def __init__(
        self,
        client: Any,
        model: str = DEFAULT_MODEL,
        dimensions: int = 1024,
        *,
        concurrency: int = 4,
    ) -> None:
        if dimensions not in (256, 512, 1024):
            raise ValueError("Titan v2 embeds in 256, 512 or 1024 dimensions")
        if concurrency < 1:
            raise ValueError("concurrency must be positive")
        self._client = client
        self._model = model
        self.dimensions = dimensions
        self._concurrency = concurrency
        self.model_id = model_key(f"bedrock-{model}-{dimensions}")

    @traced
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        workers = min(self._concurrency, len(texts))
        if workers == 1:
            rows = [self._embed_one(text) for text in texts]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bedrock") as pool:
                rows = list(pool.map(self._embed_one, texts))
        return unit_rows(np.asarray(rows, dtype=np.float32), self.model_id)

    def _embed_one(self, text: str) -> list[float]:
        body = {
            # Titan refuses an empty inputText; a blank text embeds as one space.
            "inputText": text[:MAX_CHARS] or " ",
            "dimensions": self.dimensions,
            "normalize": True,
        }
        try:
            response = self._client.invoke_model(
                modelId=self._model,
                contentType="application/json",
                accept="application/json",
                body=json.dumps(body).encode("utf-8"),
            )
            payload = response["body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc) from exc
        return self._parse(payload)

    def _parse(self, payload: bytes) -> list[float]:
        try:
            embedding = json.loads(payload)["embedding"]
        except (ValueError, KeyError, TypeError) as exc:
            # A body cut short in transit is the likely cause; a retry reads it again.
            raise TransientError(f"Bedrock model {self._model} sent an unreadable reply") from exc
        if not isinstance(embedding, list) or len(embedding) != self.dimensions:
            got = len(embedding) if isinstance(embedding, list) else type(embedding).__name__
            raise PermanentError(
                f"Bedrock model {self._model} returned {got} values, expected {self.dimensions}"
            )
        return [float(x) for x in embedding]

    def _translate(self, exc: Exception) -> StrataError:
        where = f"Bedrock model {self._model}"
        if isinstance(exc, ParamValidationError):
            return PermanentError(f"{where}: the request was malformed")
        if not isinstance(exc, ClientError):
            return TransientError(f"{where} could not be reached ({type(exc).__name__})")
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _TRANSIENT_CODES or status in (408, 429) or status >= 500:
            return TransientError(f"{where} is unavailable ({code or status}); retry later")
        reason = _PERMANENT_REASONS.get(code, f"the call failed ({code or status})")
        if code in _EXPLAINED_CODES:
            detail = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
            reason += f": {detail[:_DETAIL_CHARS]}" if detail else ""
        return PermanentError(f"{where}: {reason}")
