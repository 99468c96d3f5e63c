"""BedrockChatModel on a real bedrock-runtime client held by botocore's Stubber (no AWS call):
Converse request and response shapes as the service model defines them, retries with backoff
on throttling within a deadline, errors by kind, and a grounded chat answer through it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from chalicelib import bootstrap
from chalicelib.adapters.bedrock_chat_model import DEFAULT_MODEL, BedrockChatModel
from chalicelib.adapters.openai_chat_model import OpenAIChatModel
from chalicelib.domain.answers import ChatMessage, ModelLimits, Prompt
from chalicelib.errors import ModelUnavailable, PermanentError
from chalicelib.services.chat import Question
from chalicelib.settings import Settings
from infra.iam import answer_model_arns
from infra.plan import BEDROCK_ANSWER_MODEL
from tests.harness import REMOTE, REPO_ID, SAMPLE_FILES, Harness
from tests.integration.conftest import use_fake_credentials

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROMPT = Prompt("the rules", (ChatMessage("user", "the question"),), 700, (), "0123456789abcdef")


ANY_REQUEST = {"modelId": MODEL, "system": ANY, "messages": ANY, "inferenceConfig": ANY}


def converse_reply(text: str, stop: str = "end_turn") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": 1200, "outputTokens": 80, "totalTokens": 1280},
        "metrics": {"latencyMs": 640},
    }


def expected(max_tokens: int = 700, model: str = MODEL) -> dict[str, Any]:
    return {
        "modelId": model,
        "system": [{"text": "the rules"}],
        "messages": [{"role": "user", "content": [{"text": "the question"}]}],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
    }


def throttle(stubber: Stubber) -> None:
    stubber.add_client_error(
        "converse",
        service_error_code="ThrottlingException",
        service_message="Too many requests, please wait before trying again.",
        http_status_code=429,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    use_fake_credentials(monkeypatch)
    return boto3.client("bedrock-runtime", region_name="us-east-1")


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def bedrock(client: Any, clock: Clock, **options: Any) -> BedrockChatModel:
    return BedrockChatModel(client, MODEL, sleep=clock.sleep, monotonic=clock.monotonic, **options)


def test_sends_a_converse_request_and_reads_the_reply(
    client: Any, stubber: Stubber, clock: Clock
) -> None:
    stubber.add_response("converse", converse_reply('{"answer": "x"}'), expected())
    reply = bedrock(client, clock).complete(PROMPT)
    assert reply.text == '{"answer": "x"}'
    assert (reply.stop_reason, reply.input_tokens, reply.output_tokens) == ("end", 1200, 80)
    assert clock.sleeps == []


def test_the_reply_is_capped_by_the_models_limit(
    client: Any, stubber: Stubber, clock: Clock
) -> None:
    stubber.add_response("converse", converse_reply("{", "max_tokens"), expected(256))
    reply = bedrock(client, clock, limits=ModelLimits(4000, 256)).complete(PROMPT)
    assert reply.stop_reason == "length"


def test_throttling_is_retried_with_growing_backoff(
    client: Any, stubber: Stubber, clock: Clock
) -> None:
    throttle(stubber)
    throttle(stubber)
    stubber.add_response("converse", converse_reply("{}"), expected())
    assert bedrock(client, clock).complete(PROMPT).text == "{}"
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0


def test_throttling_past_the_attempts_is_unavailable(
    client: Any, stubber: Stubber, clock: Clock
) -> None:
    for _ in range(3):
        throttle(stubber)
    with pytest.raises(ModelUnavailable, match="ThrottlingException") as caught:
        bedrock(client, clock).complete(PROMPT)
    assert caught.value.retry_after == 5 and len(clock.sleeps) == 2


def test_no_retry_is_started_past_the_deadline(client: Any, stubber: Stubber, clock: Clock) -> None:
    throttle(stubber)
    with pytest.raises(ModelUnavailable):
        bedrock(client, clock, deadline_seconds=0.2).complete(PROMPT)
    assert clock.sleeps == []


def test_a_model_timeout_is_unavailable_and_not_retried(
    client: Any, stubber: Stubber, clock: Clock
) -> None:
    stubber.add_client_error(
        "converse", service_error_code="ModelTimeoutException", http_status_code=408
    )
    with pytest.raises(ModelUnavailable, match="ModelTimeoutException") as caught:
        bedrock(client, clock).complete(PROMPT)
    assert caught.value.retry_after == 15 and clock.sleeps == []


def test_access_denied_is_permanent_and_not_retried(
    client: Any, stubber: Stubber, clock: Clock
) -> None:
    stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:sts::123456789012:assumed-role/x is not authorized",
        http_status_code=403,
    )
    with pytest.raises(PermanentError, match="access to the model was denied") as caught:
        bedrock(client, clock).complete(PROMPT)
    assert "123456789012" not in caught.value.message and clock.sleeps == []


def test_an_input_too_long_is_permanent_with_the_service_message(
    client: Any, stubber: Stubber, clock: Clock
) -> None:
    stubber.add_client_error(
        "converse",
        service_error_code="ValidationException",
        service_message="Input is too long for requested model.",
        http_status_code=400,
    )
    with pytest.raises(PermanentError, match="rejected as invalid: Input is too long"):
        bedrock(client, clock).complete(PROMPT)


def test_an_unreachable_endpoint_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch)
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 1}),
    )
    with pytest.raises(ModelUnavailable, match=r"could not be reached|timed out"):
        BedrockChatModel(client, MODEL, attempts=1).complete(PROMPT)


def test_a_chat_answer_through_converse_keeps_only_verified_citations(
    client: Any, stubber: Stubber, clock: Clock
) -> None:
    h = Harness()
    h.git.commit(REMOTE, SAMPLE_FILES)
    h.request()
    h.run()
    reply = {
        "answer": "parse_config reads the file with json.load.",
        "citations": [{"passage": "P1", "lines": [1, 1]}, {"passage": "P12", "lines": [1, 1]}],
    }
    stubber.add_response("converse", converse_reply(json.dumps(reply)), ANY_REQUEST)
    answer = h.chat(model=bedrock(client, clock)).ask(Question(REPO_ID, "how is config parsed?"))
    assert (answer.answerer, answer.model) == ("bedrock", MODEL)
    assert len(answer.sources) == 1 and answer.dropped_citations == 1


# -- wiring -------------------------------------------------------------------------------------


def test_each_answerer_setting_builds_its_model() -> None:
    made: list[tuple[str, Any]] = []

    def client(service: str, config: Any = None) -> object:
        made.append((service, config))
        return object()

    assert bootstrap.chat_model(Settings(answerer="extractive"), client) is None
    default = bootstrap.chat_model(Settings(), client)
    assert isinstance(default, BedrockChatModel) and default.model_id == DEFAULT_MODEL
    ((service, config),) = made
    assert service == "bedrock-runtime"
    assert config.retries == {"max_attempts": 1, "mode": "standard"}  # the adapter retries
    settings = Settings(
        answerer="openai",
        answer_url="http://127.0.0.1:9/v1",
        answer_model="m",
        answer_context_tokens=3000,
        answer_max_tokens=200,
    )
    openai = bootstrap.chat_model(settings, client)
    assert isinstance(openai, OpenAIChatModel) and openai.limits == ModelLimits(3000, 200)
    with pytest.raises(ValueError, match="needs STRATA_ANSWER_URL"):
        bootstrap.chat_model(Settings(answerer="openai"), client)
    with pytest.raises(ValueError, match="STRATA_ANSWERER must be one of"):
        bootstrap.chat_model(Settings(answerer="gpt"), client)


def test_the_environment_names_the_answer_settings() -> None:
    env = {
        "STRATA_ANSWERER": "OpenAI",
        "STRATA_ANSWER_URL": "http://127.0.0.1:8080/v1",
        "STRATA_ANSWER_API_KEY": "sk-secret",
        "STRATA_ANSWER_MODEL": "qwen2.5-coder",
        "STRATA_ANSWER_CONTEXT_TOKENS": "16000",
        "STRATA_ANSWER_MAX_TOKENS": "800",
        "STRATA_ANSWER_TIMEOUT_SECONDS": "12.5",
    }
    s = Settings.from_env(env)
    assert (s.answerer, s.answer_url, s.answer_model) == (
        "openai",
        "http://127.0.0.1:8080/v1",
        "qwen2.5-coder",
    )
    assert (s.answer_context_tokens, s.answer_max_tokens, s.answer_timeout_seconds) == (
        16000,
        800,
        12.5,
    )
    assert s.answer_api_key == "sk-secret" and "sk-secret" not in repr(s)
    assert Settings.from_env({}).answerer == "bedrock"  # the deployed default


def test_the_deployed_policy_names_the_answer_model() -> None:
    assert BEDROCK_ANSWER_MODEL == DEFAULT_MODEL
    region = "arn:${AWS::Partition}:bedrock:${AWS::Region}"
    assert answer_model_arns(DEFAULT_MODEL) == [
        {"Fn::Sub": f"{region}::foundation-model/{DEFAULT_MODEL}"}
    ]
    profile = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert answer_model_arns(profile) == [
        {"Fn::Sub": f"{region}:${{AWS::AccountId}}:inference-profile/{profile}"},
        {"Fn::Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/"
         "anthropic.claude-3-5-haiku-20241022-v1:0"},
    ]  # fmt: skip
