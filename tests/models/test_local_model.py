"""The bundled SmolLM2 model answers, calls tools and stops when asked, all in-process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from typing import TYPE_CHECKING

import pytest

from threadline.models import (
    LocalModel,
    ModelRequest,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    local_model_path,
)
from threadline.types import ConfigurationError, ModelError, ToolCall, ToolResult

if TYPE_CHECKING:
    from conftest import Ask, Collect

pytestmark = pytest.mark.local_model

# Without cancellation this request runs for many seconds (it stops at the token limit).
LONG_STORY = "Write a very long story about a dragon."


async def test_a_plain_question_streams_text_that_adds_up_to_the_answer(
    local_model: LocalModel, ask: Ask, collect: Collect
) -> None:
    deltas, response = await collect(local_model.stream(ask("What is the capital of France?")))

    assert len(deltas) > 1
    assert all(isinstance(delta, TextDelta) for delta in deltas)
    assert "".join(d.delta for d in deltas if isinstance(d, TextDelta)) == response.text
    assert "Paris" in response.text
    assert response.tool_calls == ()
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.usage.cost_usd == 0.0


async def test_the_weather_question_becomes_a_get_weather_call(
    local_model: LocalModel, ask: Ask, collect: Collect, weather_spec: ToolSpec
) -> None:
    request = ask("What's the weather in Paris?", tools=[weather_spec])

    deltas, response = await collect(local_model.stream(request))

    assert response.finish_reason == "tool_calls"
    assert response.text == ""
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert call.tool_call_id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert all(isinstance(delta, ToolCallDelta) and delta.index == 0 for delta in deltas)
    first = deltas[0]
    assert isinstance(first, ToolCallDelta)
    assert (first.tool_call_id, first.name) == (call.tool_call_id, "get_weather")
    assert "".join(d.arguments_delta for d in deltas if isinstance(d, ToolCallDelta)) == (
        call.arguments
    )


async def test_after_a_tool_result_it_answers_in_text(
    local_model: LocalModel, ask: Ask, collect: Collect, weather_spec: ToolSpec
) -> None:
    request = ask(
        "What's the weather in Paris?",
        tools=[weather_spec],
        history=[
            ToolCall(tool_call_id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
            ToolResult(
                tool_call_id="call_1",
                name="get_weather",
                output='{"temperature_c": 21, "conditions": "sunny"}',
            ),
        ],
    )

    _, response = await collect(local_model.stream(request))

    assert response.tool_calls == ()
    assert response.finish_reason == "stop"
    # An answer from the result, not the prompt format's `<message>` placeholder.
    assert "sunny" in response.text
    assert "<message>" not in response.text


async def test_an_output_schema_gets_matching_json(
    local_model: LocalModel, ask: Ask, collect: Collect
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    question = ask("Name the capital of France.", instructions="Answer in JSON.")
    request = ModelRequest(
        instructions=question.instructions,
        items=question.items,
        output_schema=schema,
        temperature=0.0,
    )

    _, response = await collect(local_model.stream(request))

    assert set(json.loads(response.text)) == {"city"}


async def test_top_p_reaches_the_sampler(
    local_model: LocalModel, ask: Ask, collect: Collect
) -> None:
    greedy = ask(LONG_STORY, max_output_tokens=16, temperature=0.0)
    # Hot sampling wanders off the greedy answer, unless top_p keeps only the likeliest token.
    nucleus = dataclasses.replace(ask(LONG_STORY, max_output_tokens=16, temperature=1.8), top_p=0.0)

    _, expected = await collect(local_model.stream(greedy))
    answers = [(await collect(local_model.stream(nucleus)))[1].text for _ in range(2)]

    assert answers == [expected.text, expected.text]


async def test_strings_in_a_structured_answer_hold_no_control_characters(
    local_model: LocalModel, ask: Ask, collect: Collect
) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["name", "population"],
    }
    # This question makes the model write a long text into "name", with newlines if allowed.
    question = ask(
        "What is the capital of Norway, and how many people live there?",
        instructions="You answer questions.",
        max_output_tokens=60,
    )

    _, response = await collect(
        local_model.stream(dataclasses.replace(question, output_schema=schema))
    )

    assert response.text.startswith('{ "name" : "')
    assert not any(ord(char) < 0x20 for char in response.text)


async def test_the_token_limit_ends_the_answer_with_length(
    local_model: LocalModel, ask: Ask, collect: Collect
) -> None:
    _, response = await collect(local_model.stream(ask(LONG_STORY, max_output_tokens=5)))

    assert response.finish_reason == "length"
    assert response.usage.output_tokens == 5


@pytest.mark.parametrize("how", ["cancel_task", "close_stream"])
async def test_stopping_mid_stream_stops_the_generation(
    local_model: LocalModel, ask: Ask, collect: Collect, how: str
) -> None:
    three_deltas = asyncio.Event()
    seen: list[object] = []

    async def consume() -> None:
        async with contextlib.aclosing(
            local_model.stream(ask(LONG_STORY, max_output_tokens=1000))
        ) as events:
            async for event in events:
                seen.append(event)
                if len(seen) == 3:
                    three_deltas.set()
                    if how == "close_stream":
                        return
                    await asyncio.Event().wait()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three_deltas.wait(), timeout=30)
    stopped_at = time.monotonic()
    if how == "cancel_task":
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    # The model serves one generation at a time: the next answer proves the first one ended.
    _, response = await collect(local_model.stream(ask("Say hi.", max_output_tokens=3)))
    assert response.usage.output_tokens <= 3
    assert time.monotonic() - stopped_at < 3.0
    assert len(seen) == 3


async def test_a_history_longer_than_the_context_window_is_a_model_error(
    bundled_model_path: str, ask: Ask, collect: Collect
) -> None:
    model = LocalModel(bundled_model_path, n_ctx=256)

    with pytest.raises(ModelError, match="context window") as raised:
        await collect(model.stream(ask("word " * 400)))
    assert raised.value.retryable is False


def test_the_bundled_model_is_a_gguf_file() -> None:
    assert local_model_path().endswith(".gguf")


def test_a_missing_model_file_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        LocalModel("/nonexistent/model.gguf")


async def test_an_answer_without_a_limit_stops_at_the_models_own_limit(
    bundled_model_path: str, ask: Ask, collect: Collect
) -> None:
    model = LocalModel(bundled_model_path, max_output_tokens=6)

    _, response = await collect(model.stream(ask(LONG_STORY)))

    assert response.finish_reason == "length"
    assert response.usage.output_tokens == 6


def test_a_limit_below_one_token_is_a_configuration_error(bundled_model_path: str) -> None:
    with pytest.raises(ConfigurationError, match="max_output_tokens"):
        LocalModel(bundled_model_path, max_output_tokens=0)
