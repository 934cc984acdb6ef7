"""The Responses API backend, against a loopback server that plays back documented streams."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING

import pytest

from threadline.models import (
    ContextLengthError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    ModelServerError,
    ModelTimeoutError,
    OpenAIResponsesModel,
    PriceTable,
    ReasoningDelta,
    RetryPolicy,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
    ToolSpec,
    reasoning_data,
)
from threadline.types import Usage

if TYPE_CHECKING:
    from conftest import Ask, Collect, FakeServer, FakeSleep

ONE_ATTEMPT = RetryPolicy(max_attempts=1)


def _model(fake: FakeServer, model: str = "gpt-4.1", **options: object) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(model, base_url=fake.base_url, api_key="sk-test", **options)  # type: ignore[arg-type]


def _plain(events: list[ModelEvent]) -> list[ModelEvent]:
    return [dataclasses.replace(event, raw=None) for event in events]


async def test_text_streams_as_deltas_and_one_priced_response(
    fake_openai: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_openai.add_transcript("openai_responses/text")

    async with _model(fake_openai) as model:
        deltas, response = await collect(model.stream(ask("Capital of France?")))

    assert fake_openai.paths == ["/v1/responses"]
    assert _plain(deltas) == [
        TextDelta(delta="Paris"),
        TextDelta(delta=" is the"),
        TextDelta(delta=" capital of France."),
    ]
    # gpt-4.1: $2 input, $0.50 cached input, $8 output per million tokens.
    cost = (316 * 2 + 1024 * 0.5 + 9 * 8) / 1_000_000
    assert dataclasses.replace(response, raw=None) == ModelResponse(
        text="Paris is the capital of France.",
        finish_reason="stop",
        usage=Usage(
            input_tokens=1340,
            cached_input_tokens=1024,
            output_tokens=9,
            cost_usd=pytest.approx(cost),
        ),
    )  # type: ignore[arg-type]
    assert response.raw["object"] == "response"
    assert reasoning_data(response) == {}


async def test_function_calls_stream_their_arguments(
    fake_openai: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_openai.add_transcript("openai_responses/tool_calls")

    async with _model(fake_openai) as model:
        deltas, response = await collect(model.stream(ask("Weather in Paris and Rome?")))

    paris, rome = "call_unLAR8MvFNptuiZK6K6HCy5k", "call_7yZ0QFJsmzkVxnCQdsk8MqNj"
    assert _plain(deltas) == [
        ToolCallDelta(index=0, tool_call_id=paris, name="get_weather"),
        *(ToolCallDelta(index=0, arguments_delta=p) for p in ['{"', "city", '":"', "Paris", '"}']),
        ToolCallDelta(index=1, tool_call_id=rome, name="get_weather"),
        ToolCallDelta(index=1, arguments_delta='{"city"'),
        ToolCallDelta(index=1, arguments_delta=':"Rome"}'),
    ]
    assert response.tool_calls == (
        ToolCallRequest(tool_call_id=paris, name="get_weather", arguments='{"city":"Paris"}'),
        ToolCallRequest(tool_call_id=rome, name="get_weather", arguments='{"city":"Rome"}'),
    )
    assert response.finish_reason == "tool_calls"
    assert response.text == ""


async def test_reasoning_summaries_stream_and_the_state_to_pass_back_is_kept(
    fake_openai: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_openai.add_transcript("openai_responses/reasoning")

    async with _model(
        fake_openai, "o4-mini", reasoning_summary="detailed", reasoning_effort="medium"
    ) as model:
        deltas, response = await collect(model.stream(ask("Weather in Paris?")))

    reasoning = [d.delta for d in deltas if isinstance(d, ReasoningDelta)]
    assert reasoning == [
        "**Checking the weather**\n\nThe user",
        " asks about Paris.",
        "\n\n",
        "I should call",
        " get_weather.",
    ]
    assert response.reasoning == "".join(reasoning)
    assert response.usage.reasoning_tokens == 256
    assert response.usage.cost_usd == pytest.approx((120 * 1.1 + 310 * 4.4) / 1_000_000)
    assert fake_openai.requests[0]["reasoning"] == {"effort": "medium", "summary": "detailed"}
    assert fake_openai.requests[0]["include"] == ["reasoning.encrypted_content"]
    assert reasoning_data(response) == {
        "openai_responses": {
            "skeleton": [
                {
                    "type": "reasoning",
                    "id": "rs_6820f383d7c08191846711c5df8233bc0ac5ba57aafcbac7",
                    "summary": [
                        {
                            "type": "summary_text",
                            "text": "**Checking the weather**\n\nThe user asks about Paris.",
                        },
                        {"type": "summary_text", "text": "I should call get_weather."},
                    ],
                    "encrypted_content": "gAAAAABoIPOF3tYj1kVzq0bqwdUu9pSn4eSaA1yqNHhTBgX1lEhFQpq5jpLpKjvC4q6EzLw1-ENC",
                },
                {
                    "type": "function_call",
                    "id": "fc_6820f3855a788191ae42b3d7b48d3a4e0ac5ba57aafcbac7",
                    "call_id": "call_a1qbvKsFrhIiy0PEs6Yb8eyZ",
                },
            ]
        }
    }


@pytest.mark.parametrize(
    ("name", "finish", "text"),
    [
        ("refusal", "refusal", "I'm sorry, I can't help with that."),
        ("incomplete", "length", "Once upon a time"),
    ],
)
async def test_refusals_and_cut_answers_say_so(
    fake_openai: FakeServer, ask: Ask, collect: Collect, name: str, finish: str, text: str
) -> None:
    fake_openai.add_transcript(f"openai_responses/{name}")

    async with _model(fake_openai) as model:
        deltas, response = await collect(model.stream(ask("Hi")))

    assert "".join(d.delta for d in deltas if isinstance(d, TextDelta)) == text
    assert (response.text, response.finish_reason) == (text, finish)


async def test_a_long_tool_calling_history_becomes_the_exact_request_body(
    fake_openai: FakeServer, long_history: ModelRequest, collect: Collect, weather_spec: ToolSpec
) -> None:
    fake_openai.add_transcript("openai_responses/text")

    async with _model(fake_openai, tool_choice="required") as model:
        await collect(model.stream(long_history))

    assert fake_openai.headers[0]["authorization"] == "Bearer sk-test"
    assert fake_openai.requests == [
        {
            "model": "gpt-4.1",
            "stream": True,
            "store": False,
            "instructions": "Be brief.",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "input_text",
                            "text": "What's the weather in Paris and Rome? Here is Paris:",
                        },
                        {
                            "type": "input_image",
                            "image_url": "https://example.com/paris.jpg",
                            "detail": "low",
                        },
                    ],
                },
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "encrypted_content": "gAAAAABencrypted",
                    "summary": [{"type": "summary_text", "text": "Two cities: two calls."}],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "id": "msg_1",
                    "status": "completed",
                    "phase": "commentary",
                    "content": [
                        {"type": "output_text", "text": "Let me check both.", "annotations": []}
                    ],
                },
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_1",
                    "name": "get_weather",
                    "arguments": '{"city": "Paris"}',
                },
                {
                    "type": "function_call",
                    "id": "fc_2",
                    "call_id": "call_2",
                    "name": "get_weather",
                    "arguments": '{"city": "Rome"}',
                },
                {"type": "function_call_output", "call_id": "call_1", "output": '{"temp_c": 18}'},
                {
                    "type": "function_call_output",
                    "call_id": "call_2",
                    "output": "ToolError: the weather service is down",
                },
                {"role": "assistant", "content": "Paris: 18°C. Rome: unavailable."},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Thanks! And this one?"},
                        {
                            "type": "input_image",
                            "image_url": "data:image/png;base64,iVBORw0KGgo=",
                            "detail": "auto",
                        },
                    ],
                },
            ],
            "tools": [
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": weather_spec.description,
                    "parameters": weather_spec.parameters,
                    "strict": False,
                }
            ],
            "tool_choice": "required",
        }
    ]


async def test_output_schema_sampling_and_limit_are_sent(
    fake_openai: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_openai.add_transcript("openai_responses/text")
    question = ask("Hi", temperature=0.5, max_output_tokens=100)
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}

    async with _model(fake_openai, "gpt-4o-mini") as model:
        await collect(model.stream(dataclasses.replace(question, output_schema=schema, top_p=0.9)))

    body = fake_openai.requests[0]
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "output", "schema": schema, "strict": False}
    }
    assert (body["temperature"], body["top_p"], body["max_output_tokens"]) == (0.5, 0.9, 100)
    assert "include" not in body  # gpt-4o-mini does not reason, and refuses the option


async def test_a_rate_limit_is_retried_after_the_time_the_server_asked(
    fake_openai: FakeServer, ask: Ask, collect: Collect, fake_sleep: FakeSleep
) -> None:
    fake_openai.add_transcript("openai_responses/rate_limited")
    fake_openai.add_transcript("openai_responses/text")

    async with _model(fake_openai, sleep=fake_sleep) as model:
        _, response = await collect(model.stream(ask("Hi")))

    assert response.text == "Paris is the capital of France."
    assert fake_sleep.waits == [3.0]  # the transcript's `retry-after: 3`
    assert len(fake_openai.requests) == 2


async def test_an_error_event_before_any_delta_is_retried_with_backoff(
    fake_openai: FakeServer, ask: Ask, collect: Collect, fake_sleep: FakeSleep
) -> None:
    fake_openai.add_transcript("openai_responses/error_event")
    fake_openai.add_transcript("openai_responses/server_error")
    fake_openai.add_transcript("openai_responses/text")
    retry = RetryPolicy(max_attempts=3, initial_delay=1.0, multiplier=2.0, jitter=0.0)

    async with _model(fake_openai, sleep=fake_sleep, retry=retry) as model:
        _, response = await collect(model.stream(ask("Hi")))

    assert response.text == "Paris is the capital of France."
    assert fake_sleep.waits == [1.0, 2.0]


async def test_attempts_are_bounded(
    fake_openai: FakeServer, ask: Ask, collect: Collect, fake_sleep: FakeSleep
) -> None:
    for _ in range(2):
        fake_openai.add_transcript("openai_responses/server_error")

    async with _model(fake_openai, sleep=fake_sleep, retry=RetryPolicy(max_attempts=2)) as model:
        with pytest.raises(ModelServerError, match="HTTP 500") as raised:
            await collect(model.stream(ask("Hi")))

    assert raised.value.retryable is True
    assert len(fake_openai.requests) == 2
    assert len(fake_sleep.waits) == 1


async def test_a_failure_after_the_first_delta_is_never_retried(
    fake_openai: FakeServer, ask: Ask, fake_sleep: FakeSleep
) -> None:
    fake_openai.add_transcript("openai_responses/failed_mid_stream")
    received: list[ModelEvent] = []

    async with _model(fake_openai, sleep=fake_sleep) as model:
        with pytest.raises(ModelServerError, match="server had an error") as raised:
            async for event in model.stream(ask("Hi")):
                received.append(event)

    assert raised.value.retryable is True
    assert _plain(received) == [TextDelta(delta="The capital")]
    assert len(fake_openai.requests) == 1
    assert fake_sleep.waits == []


async def test_a_connection_cut_mid_stream_is_retryable_and_gives_no_response(
    fake_openai: FakeServer, ask: Ask
) -> None:
    fake_openai.add_transcript("openai_responses/text", cut_after=6)
    received: list[ModelEvent] = []

    async with _model(fake_openai) as model:
        with pytest.raises(ModelConnectionError) as raised:
            async for event in model.stream(ask("Hi")):
                received.append(event)

    assert raised.value.retryable is True
    assert _plain(received) == [TextDelta(delta="Paris"), TextDelta(delta=" is the")]
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    ("name", "error", "code"),
    [
        ("context_length", ContextLengthError, "context_length_exceeded"),
        ("invalid_api_key", ModelAuthenticationError, "model_authentication"),
    ],
)
async def test_errors_that_a_retry_cannot_fix_are_raised_at_once(
    fake_openai: FakeServer,
    ask: Ask,
    collect: Collect,
    fake_sleep: FakeSleep,
    name: str,
    error: type[Exception],
    code: str,
) -> None:
    fake_openai.add_transcript(f"openai_responses/{name}")

    async with _model(fake_openai, sleep=fake_sleep) as model:
        with pytest.raises(error) as raised:
            await collect(model.stream(ask("Hi")))

    assert raised.value.retryable is False  # type: ignore[attr-defined]
    assert raised.value.code == code  # type: ignore[attr-defined]
    assert fake_sleep.waits == []
    assert len(fake_openai.requests) == 1


async def test_no_first_token_in_time_is_a_retryable_timeout_that_hangs_up(
    fake_openai: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_openai.add_transcript("openai_responses/created_only", hang=True)

    async with _model(fake_openai, retry=ONE_ATTEMPT, first_token_timeout=0.2) as model:
        with pytest.raises(ModelTimeoutError, match=r"no first token within 0\.2s") as raised:
            await collect(model.stream(ask("Hi")))

    assert raised.value.retryable is True
    await asyncio.wait_for(fake_openai.client_left.wait(), timeout=5)


async def test_a_stream_that_stalls_after_deltas_ends_at_the_total_timeout(
    fake_openai: FakeServer, ask: Ask
) -> None:
    fake_openai.add_transcript("openai_responses/text", cut_after=6, hang=True)
    received: list[ModelEvent] = []

    async with _model(fake_openai, first_token_timeout=5, total_timeout=0.3) as model:
        with pytest.raises(ModelTimeoutError, match=r"no complete answer within 0\.3s"):
            async for event in model.stream(ask("Hi")):
                received.append(event)

    assert len(received) == 2
    assert not any(isinstance(event, ModelResponse) for event in received)
    await asyncio.wait_for(fake_openai.client_left.wait(), timeout=5)


@pytest.mark.parametrize("how", ["close_stream", "cancel_task"])
async def test_leaving_the_stream_closes_the_http_connection(
    fake_openai: FakeServer, ask: Ask, how: str
) -> None:
    fake_openai.add_transcript("openai_responses/text", cut_after=5, hang=True)
    first_delta = asyncio.Event()

    async with _model(fake_openai) as model:

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

        await asyncio.wait_for(fake_openai.client_left.wait(), timeout=5)


async def test_an_unknown_model_costs_none_and_a_registered_price_is_used(
    fake_openai: FakeServer, ask: Ask, collect: Collect
) -> None:
    for _ in range(2):
        fake_openai.add_transcript("openai_responses/text")
    prices = PriceTable()

    async with _model(fake_openai, "my-finetune", prices=prices) as model:
        # The transcript says gpt-4.1-2025-04-14 answered, whose price is known.
        _, known = await collect(model.stream(ask("Hi")))
        prices.register_price("my-finetune", input=1.0, output=2.0)
        _, registered = await collect(model.stream(ask("Hi")))

    assert known.usage.cost_usd == pytest.approx((316 * 2 + 1024 * 0.5 + 9 * 8) / 1e6)
    assert registered.usage.cost_usd == pytest.approx((1340 * 1.0 + 9 * 2.0) / 1e6)


async def test_a_model_no_table_knows_costs_none(
    fake_openai: FakeServer, ask: Ask, collect: Collect
) -> None:
    fake_openai.add_transcript("openai_responses/text")

    async with _model(fake_openai, prices=PriceTable(defaults=False)) as model:
        _, response = await collect(model.stream(ask("Hi")))

    assert response.usage.cost_usd is None
    assert response.usage.input_tokens == 1340
