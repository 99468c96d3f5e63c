"""Settings -> the configured Embedder adapter (bootstrap.embedder), and the environment names."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.bedrock_embedder import BedrockEmbedder
from chalicelib.adapters.minilm_embedder import MiniLMEmbedder
from chalicelib.adapters.openai_embedder import OpenAIEmbedder
from chalicelib.settings import Settings


def no_client(service: str) -> Any:
    raise AssertionError(f"no {service} client is needed")


def test_each_setting_builds_its_adapter() -> None:
    assert bootstrap.embedder(Settings(embedder="none"), no_client) is None
    assert isinstance(bootstrap.embedder(Settings(embedder="minilm"), no_client), MiniLMEmbedder)
    clients: list[str] = []

    def client(service: str) -> object:
        clients.append(service)
        return object()

    bedrock = bootstrap.embedder(Settings(embedder="bedrock", embedding_dimensions=256), client)
    assert isinstance(bedrock, BedrockEmbedder) and clients == ["bedrock-runtime"]
    assert bedrock.dimensions == 256
    openai = bootstrap.embedder(
        Settings(embedder="openai", embedding_url="http://127.0.0.1:9/", embedding_model="m"),
        no_client,
    )
    assert isinstance(openai, OpenAIEmbedder)


def test_incomplete_or_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="STRATA_EMBEDDING_URL"):
        bootstrap.embedder(Settings(embedder="openai"), no_client)
    with pytest.raises(ValueError, match="must be one of"):
        bootstrap.embedder(Settings(embedder="word2vec"), no_client)


def test_environment_names() -> None:
    s = Settings.from_env(
        {
            "STRATA_EMBEDDER": " MiniLM ",
            "STRATA_EMBEDDING_THREADS": "2",
            "STRATA_HISTORY_COMMITS": "500",
            "STRATA_EMBEDDING_API_KEY": "sk-secret",
        }
    )
    assert (s.embedder, s.embedding_threads, s.history_commits) == ("minilm", 2, 500)
    assert "sk-secret" not in repr(s)
