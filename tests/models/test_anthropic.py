"""The Anthropic backend, against a loopback server that plays back documented streams."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING

import pytest

from threadline.models import (
    AnthropicModel,
    ContextLengthError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelEvent,
    ModelOverloadedError,
    ModelRequest,
    ModelResponse,
    ModelTimeoutError,
    ReasoningDelta,
    RetryPolicy,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
    ToolSpec,
    reasoning_data,
)
from threadline.types import ConfigurationError, Usage

if TYPE_CHECKING:
    from conftest import Ask, Collect, FakeServer, FakeSleep


def _model(fake: FakeServer, model: str = "claude-sonnet-4-6", **options: object) -> AnthropicModel:
    return AnthropicModel(model, base_url=fake.base_url, api_key="sk-ant-test", **options)  # type: ignore[arg-type]


def _plain(events: list[ModelEvent]) -> list[ModelEvent]:
    return [dataclasses.replace(event, raw=None) for event in events]


async def test_text_streams_as_deltas_and_one_priced_response(
    fake_anthropic: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_anthropic.add_transcript("anthropic/text")

    async with _model(fake_anthropic) as model:
        deltas, response = await collect(model.stream(ask("Capital of France?")))

    assert fake_anthropic.paths == ["/v1/messages"]
    assert fake_anthropic.headers[0]["authorization"] == "Bearer sk-ant-test"
    assert _plain(deltas) == [
        TextDelta(delta="Paris"),
        TextDelta(delta=" is the capital"),
        TextDelta(delta=" of France."),
    ]
    # Anthropic counts cache reads apart from input; claude-sonnet-4-6 costs $3 input,
    # $0.30 cache reads and $15 output per million tokens.
    cost = (2095 * 3 + 1800 * 0.3 + 15 * 15) / 1_000_000
    assert dataclasses.replace(response, raw=None) == ModelResponse(
        text="Paris is the capital of France.",
        finish_reason="stop",
        usage=Usage(
            input_tokens=3895,
            cached_input_tokens=1800,
            output_tokens=15,
            cost_usd=pytest.approx(cost),
        ),
    )  # type: ignore[arg-type]
    assert reasoning_data(response) == {}


async def test_tool_uses_stream_their_input_json(
    fake_anthropic: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_anthropic.add_transcript("anthropic/tool_use")

    async with _model(fake_anthropic) as model:
        deltas, response = await collect(model.stream(ask("Weather?")))

    sf, rome = "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "toolu_01A09q90qw90lq917835lq9"
    assert _plain(deltas) == [
        TextDelta(delta="Okay, let's check"),
        TextDelta(delta=" the weather."),
        ToolCallDelta(index=0, tool_call_id=sf, name="get_weather"),
        ToolCallDelta(index=0, arguments_delta='{"city":'),
        ToolCallDelta(index=0, arguments_delta=' "San Fra'),
        ToolCallDelta(index=0, arguments_delta='ncisco"}'),
        ToolCallDelta(index=1, tool_call_id=rome, name="get_weather"),
        ToolCallDelta(index=1, arguments_delta='{"city": "Rome"}'),
    ]
    assert response.tool_calls == (
        ToolCallRequest(tool_call_id=sf, name="get_weather", arguments='{"city": "San Francisco"}'),
        ToolCallRequest(tool_call_id=rome, name="get_weather", arguments='{"city": "Rome"}'),
    )
    assert (response.text, response.finish_reason) == (
        "Okay, let's check the weather.",
        "tool_calls",
    )


async def test_thinking_streams_and_its_signed_blocks_are_kept_in_order(
    fake_anthropic: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_anthropic.add_transcript("anthropic/thinking")
    thinking = {"type": "enabled", "budget_tokens": 2048}

    async with _model(fake_anthropic, thinking=thinking) as model:
        deltas, response = await collect(model.stream(ask("GCD of 1071 and 462?")))

    assert _plain(deltas) == [
        ReasoningDelta(delta="I need to find"),
        ReasoningDelta(delta=" the GCD of 1071 and 462."),
        TextDelta(delta="The GCD"),
        TextDelta(delta=" is 21."),
    ]
    assert (response.reasoning, response.text) == (
        "I need to find the GCD of 1071 and 462.",
        "The GCD is 21.",
    )
    assert fake_anthropic.requests[0]["thinking"] == thinking
    assert reasoning_data(response) == {
        "anthropic": {
            "skeleton": [
                {
                    "type": "thinking",
                    "thinking": "I need to find the GCD of 1071 and 462.",
                    "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds5xf",
                },
                {
                    "type": "redacted_thinking",
                    "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfW"
                    "XGmKDxH4mPnZ5sQ7vB5URj",
                },
                {"type": "text"},
            ]
        }
    }


@pytest.mark.parametrize(("name", "finish"), [("max_tokens", "length"), ("refusal", "refusal")])
async def test_stop_reasons_become_finish_reasons(
    fake_anthropic: FakeServer, ask: Ask, collect: Collect, name: str, finish: str
) -> None:
    fake_anthropic.add_transcript(f"anthropic/{name}")

    async with _model(fake_anthropic) as model:
        _, response = await collect(model.stream(ask("Hi")))

    assert response.finish_reason == finish


async def test_a_long_tool_calling_history_becomes_the_exact_request_body(
    fake_anthropic: FakeServer, long_history: ModelRequest, collect: Collect, weather_spec: ToolSpec
) -> None:
    fake_anthropic.add_transcript("anthropic/text")

    async with _model(fake_anthropic, tool_choice="get_weather") as model:
        await collect(model.stream(long_history))

    assert fake_anthropic.requests == [
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 8192,
            "stream": True,
            "system": "Be brief.",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": "What's the weather in Paris and Rome? Here is Paris:",
                        },
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/paris.jpg"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "thinking",
                            "thinking": "Two cities: two calls.",
                            "signature": "EqQBCgIYAh",
                        },
                        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3"},
                        {"type": "text", "text": "Let me check both."},
                        {
                            "type": "tool_use",
                            "id": "call_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                        {
                            "type": "tool_use",
                            "id": "call_2",
                            "name": "get_weather",
                            "input": {"city": "Rome"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "call_1",
                            "content": '{"temp_c": 18}',
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "call_2",
                            "content": "ToolError: the weather service is down",
                            "is_error": True,
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "Paris: 18°C. Rome: unavailable."}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Thanks! And this one?"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": "iVBORw0KGgo=",
                            },
                        },
                    ],
                },
            ],
            "tools": [
                {
                    "name": "get_weather",
                    "description": weather_spec.description,
                    "input_schema": weather_spec.parameters,
                }
            ],
            "tool_choice": {"type": "tool", "name": "get_weather"},
        }
    ]


async def test_output_schema_and_limit_are_sent_and_sampling_is_not(
    fake_anthropic: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_anthropic.add_transcript("anthropic/text")
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    question = ask("Hi", temperature=0.5, max_output_tokens=100)

    async with _model(fake_anthropic) as model:
        await collect(model.stream(dataclasses.replace(question, output_schema=schema, top_p=0.9)))

    body = fake_anthropic.requests[0]
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert body["max_tokens"] == 100
    assert "temperature" not in body
    assert "top_p" not in body


@pytest.mark.parametrize(("name", "wait"), [("rate_limited", 7.0), ("overloaded", None)])
async def test_rate_limits_and_overload_are_retried(
    fake_anthropic: FakeServer,
    ask: Ask,
    collect: Collect,
    fake_sleep: FakeSleep,
    name: str,
    wait: float | None,
) -> None:
    fake_anthropic.add_transcript(f"anthropic/{name}")
    fake_anthropic.add_transcript("anthropic/text")
    retry = RetryPolicy(initial_delay=0.5, jitter=0.0)

    async with _model(fake_anthropic, sleep=fake_sleep, retry=retry) as model:
        _, response = await collect(model.stream(ask("Hi")))

    assert response.text == "Paris is the capital of France."
    # `retry-after: 7` when the server sent it, else the policy's first backoff.
    assert fake_sleep.waits == [wait or 0.5]
    assert len(fake_anthropic.requests) == 2


async def test_overload_mid_stream_is_retryable_but_not_retried_after_a_delta(
    fake_anthropic: FakeServer, ask: Ask, fake_sleep: FakeSleep
) -> None:
    fake_anthropic.add_transcript("anthropic/overloaded_mid_stream")
    received: list[ModelEvent] = []

    async with _model(fake_anthropic, sleep=fake_sleep) as model:
        with pytest.raises(ModelOverloadedError, match="Overloaded") as raised:
            async for event in model.stream(ask("Hi")):
                received.append(event)

    assert raised.value.retryable is True
    assert _plain(received) == [TextDelta(delta="Hello"), TextDelta(delta=", I was")]
    assert fake_sleep.waits == []
    assert len(fake_anthropic.requests) == 1


async def test_a_connection_cut_mid_stream_is_retryable_and_gives_no_response(
    fake_anthropic: FakeServer, ask: Ask
) -> None:
    fake_anthropic.add_transcript("anthropic/text", cut_after=5)
    received: list[ModelEvent] = []

    async with _model(fake_anthropic) as model:
        with pytest.raises(ModelConnectionError) as raised:
            async for event in model.stream(ask("Hi")):
                received.append(event)

    assert raised.value.retryable is True
    assert _plain(received) == [TextDelta(delta="Paris"), TextDelta(delta=" is the capital")]


@pytest.mark.parametrize(
    ("name", "error", "code"),
    [
        ("context_length", ContextLengthError, "context_length_exceeded"),
        ("authentication", ModelAuthenticationError, "model_authentication"),
    ],
)
async def test_errors_that_a_retry_cannot_fix_are_raised_at_once(
    fake_anthropic: FakeServer,
    ask: Ask,
    collect: Collect,
    fake_sleep: FakeSleep,
    name: str,
    error: type[Exception],
    code: str,
) -> None:
    fake_anthropic.add_transcript(f"anthropic/{name}")

    async with _model(fake_anthropic, sleep=fake_sleep) as model:
        with pytest.raises(error) as raised:
            await collect(model.stream(ask("Hi")))

    assert raised.value.retryable is False  # type: ignore[attr-defined]
    assert raised.value.code == code  # type: ignore[attr-defined]
    assert raised.value.context["status_code"] in (400, 401)  # type: ignore[attr-defined]
    assert len(fake_anthropic.requests) == 1


async def test_no_first_token_in_time_is_a_retryable_timeout_that_hangs_up(
    fake_anthropic: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_anthropic.add_transcript("anthropic/started_only", hang=True)

    async with _model(
        fake_anthropic, retry=RetryPolicy(max_attempts=1), first_token_timeout=0.2
    ) as model:
        with pytest.raises(ModelTimeoutError, match="no first token") as raised:
            await collect(model.stream(ask("Hi")))

    assert raised.value.retryable is True
    await asyncio.wait_for(fake_anthropic.client_left.wait(), timeout=5)


@pytest.mark.parametrize("how", ["close_stream", "cancel_task"])
async def test_leaving_the_stream_closes_the_http_connection(
    fake_anthropic: FakeServer, ask: Ask, how: str
) -> None:
    fake_anthropic.add_transcript("anthropic/text", cut_after=4, hang=True)
    first_delta = asyncio.Event()

    async with _model(fake_anthropic) as model:

        async def consume() -> None:
            async with contextlib.aclosing(model.stream(ask("Hi"))) as events:
                async for _ in events:
                    first_delta.set()
                    if how == "close_stream":
                        return

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first_delta.wait(), timeout=5)
        if how == "cancel_task":
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

        await asyncio.wait_for(fake_anthropic.client_left.wait(), timeout=5)


def test_anthropic_itself_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")

    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicModel("claude-sonnet-4-6")


async def test_a_compatible_server_needs_no_api_key(
    fake_anthropic: FakeServer, ask: Ask, collect: Collect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    fake_anthropic.add_transcript("anthropic/text")

    async with AnthropicModel("claude-sonnet-4-6", base_url=fake_anthropic.base_url) as model:
        _, response = await collect(model.stream(ask("Hi")))

    assert response.text == "Paris is the capital of France."
    assert fake_anthropic.headers[0]["authorization"] == "Bearer not-needed"
