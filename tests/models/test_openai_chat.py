"""The Chat Completions backend streams from real servers and reports failures as ModelError."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING

import pytest

from threadline.models import (
    ContextLengthError,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    OpenAIChatModel,
    ReasoningDelta,
    RetryPolicy,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
    ToolSpec,
)
from threadline.types import ConfigurationError, ModelError, Usage

if TYPE_CHECKING:
    from conftest import Ask, Collect, FakeServer, FakeSleep, MakeChunk


# --- against a real llama-cpp-python server --------------------------------------------------


@pytest.mark.slow
async def test_text_streams_from_a_llama_cpp_server(
    llama_server: str, ask: Ask, collect: Collect
) -> None:
    async with OpenAIChatModel("smollm2", base_url=llama_server) as model:
        deltas, response = await collect(model.stream(ask("What is the capital of France?")))

    assert len(deltas) > 1
    assert all(isinstance(delta, TextDelta) for delta in deltas)
    assert "".join(d.delta for d in deltas if isinstance(d, TextDelta)) == response.text
    assert "Paris" in response.text
    assert response.finish_reason == "stop"
    assert response.tool_calls == ()


@pytest.mark.slow
async def test_a_tool_call_streams_from_a_llama_cpp_server(
    llama_server: str, ask: Ask, collect: Collect, weather_spec: ToolSpec
) -> None:
    # llama-cpp-python's server streams only a call forced by name (see the next test).
    async with OpenAIChatModel(
        "smollm2", base_url=llama_server, tool_choice="get_weather"
    ) as model:
        deltas, response = await collect(
            model.stream(ask("What's the weather in Paris?", tools=[weather_spec]))
        )

    assert response.finish_reason == "tool_calls"
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert call.tool_call_id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "Paris"}
    first, *rest = deltas
    assert first == ToolCallDelta(
        index=0,
        tool_call_id=call.tool_call_id,
        name="get_weather",
        arguments_delta=first.arguments_delta,
        raw=first.raw,
    )
    # The server repeats the id and name in every chunk; only the first delta carries them.
    assert all(
        isinstance(d, ToolCallDelta) and d.tool_call_id is None and d.name is None for d in rest
    )
    assert "".join(d.arguments_delta for d in deltas if isinstance(d, ToolCallDelta)) == (
        call.arguments
    )


@pytest.mark.slow
async def test_a_stream_the_server_ends_without_an_answer_is_a_retryable_error(
    llama_server: str, ask: Ask, collect: Collect, weather_spec: ToolSpec
) -> None:
    # With `auto`, llama-cpp-python's server fails after sending its 200 headers when the
    # model picks a tool, so the body ends with no chunk at all.
    async with OpenAIChatModel(
        "smollm2", base_url=llama_server, tool_choice="auto", retry=RetryPolicy(max_attempts=1)
    ) as model:
        with pytest.raises(ModelError, match="ended before the model finished") as raised:
            await collect(model.stream(ask("What's the weather in Paris?", tools=[weather_spec])))

    assert raised.value.retryable is True


# --- against a scripted HTTP server, for what a real one will not do on demand ---------------


async def test_the_request_carries_messages_tools_and_output_schema(
    fake_openai: FakeServer,
    ask: Ask,
    collect: Collect,
    make_chunk: MakeChunk,
    weather_spec: ToolSpec,
) -> None:
    fake_openai.add_reply(chunks=[make_chunk(content="{}", finish_reason="stop")])
    schema = {"type": "object"}
    question = ask("Weather?", tools=[weather_spec], instructions="Be brief.")
    request = ModelRequest(
        instructions=question.instructions,
        items=question.items,
        tools=question.tools,
        output_schema=schema,
        temperature=0.5,
        top_p=0.9,
        max_output_tokens=100,
    )

    async with OpenAIChatModel(
        "gpt-test", base_url=fake_openai.base_url, api_key="sk-test", tool_choice="required"
    ) as model:
        await collect(model.stream(request))

    assert fake_openai.requests == [
        {
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather?"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": weather_spec.description,
                        "parameters": weather_spec.parameters,
                    },
                }
            ],
            "tool_choice": "required",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema},
            },
            "temperature": 0.5,
            "top_p": 0.9,
            "max_tokens": 100,
        }
    ]
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-test"


async def test_chunks_become_deltas_and_one_final_response(
    fake_openai: FakeServer, ask: Ask, collect: Collect, make_chunk: MakeChunk
) -> None:
    def call(
        index: int, arguments: str, *, call_id: str | None = None, name: str | None = None
    ) -> dict[str, object]:
        head = {"id": call_id, "type": "function"} if call_id else {}
        return {"index": index, **head, "function": {"name": name, "arguments": arguments}}

    fake_openai.add_reply(
        chunks=[
            make_chunk(reasoning_content="Two cities."),
            make_chunk(content="Checking "),
            make_chunk(content="both."),
            make_chunk(tool_calls=[call(0, "", call_id="call_a", name="get_weather")]),
            make_chunk(tool_calls=[call(0, '{"city": "Paris"}')]),
            make_chunk(tool_calls=[call(1, '{"city": ', call_id="call_b", name="get_weather")]),
            make_chunk(tool_calls=[call(1, '"Rome"}')]),
            make_chunk(finish_reason="tool_calls"),
            make_chunk(
                usage={
                    "prompt_tokens": 50,
                    "completion_tokens": 20,
                    "total_tokens": 70,
                    "prompt_tokens_details": {"cached_tokens": 32},
                    "completion_tokens_details": {"reasoning_tokens": 4},
                }
            ),
        ]
    )

    async with OpenAIChatModel("gpt-test", base_url=fake_openai.base_url) as model:
        deltas, response = await collect(model.stream(ask("Weather in Paris and Rome?")))

    assert [_without_raw(delta) for delta in deltas] == [
        ReasoningDelta(delta="Two cities."),
        TextDelta(delta="Checking "),
        TextDelta(delta="both."),
        ToolCallDelta(index=0, tool_call_id="call_a", name="get_weather"),
        ToolCallDelta(index=0, arguments_delta='{"city": "Paris"}'),
        ToolCallDelta(
            index=1, tool_call_id="call_b", name="get_weather", arguments_delta='{"city": '
        ),
        ToolCallDelta(index=1, arguments_delta='"Rome"}'),
    ]
    assert response == ModelResponse(
        text="Checking both.",
        reasoning="Two cities.",
        tool_calls=(
            ToolCallRequest(
                tool_call_id="call_a", name="get_weather", arguments='{"city": "Paris"}'
            ),
            ToolCallRequest(
                tool_call_id="call_b", name="get_weather", arguments='{"city": "Rome"}'
            ),
        ),
        usage=Usage(
            input_tokens=50,
            output_tokens=20,
            cached_input_tokens=32,
            reasoning_tokens=4,
            cost_usd=None,
        ),
        finish_reason="tool_calls",
    )


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
    ],
)
async def test_http_errors_are_model_errors_that_say_whether_to_retry(
    fake_openai: FakeServer, ask: Ask, collect: Collect, status: int, retryable: bool
) -> None:
    fake_openai.add_reply(status=status, error={"message": "no luck"})

    async with OpenAIChatModel(
        "gpt-test", base_url=fake_openai.base_url, retry=RetryPolicy(max_attempts=1)
    ) as model:
        with pytest.raises(ModelError, match="no luck") as raised:
            await collect(model.stream(ask("Hi")))

    assert raised.value.retryable is retryable
    assert raised.value.context["status_code"] == status


@pytest.mark.parametrize("ending", ["cut_off", "no_finish_reason"])
async def test_a_stream_that_breaks_after_deltas_is_retryable_and_gives_no_response(
    fake_openai: FakeServer, ask: Ask, make_chunk: MakeChunk, ending: str
) -> None:
    fake_openai.add_reply(
        chunks=[make_chunk(content="Hel"), make_chunk(content="lo")],
        done=ending == "no_finish_reason",
    )
    received: list[ModelEvent] = []

    async with OpenAIChatModel(
        "gpt-test", base_url=fake_openai.base_url, retry=RetryPolicy(max_attempts=1)
    ) as model:
        with pytest.raises(ModelError) as raised:
            async for event in model.stream(ask("Hi")):
                received.append(event)

    assert raised.value.retryable is True
    assert received == [
        TextDelta(delta="Hel", raw=received[0].raw),
        TextDelta(delta="lo", raw=received[1].raw),
    ]


@pytest.mark.parametrize("how", ["close_stream", "cancel_task"])
async def test_leaving_the_stream_closes_the_http_connection(
    fake_openai: FakeServer, ask: Ask, make_chunk: MakeChunk, how: str
) -> None:
    fake_openai.add_reply(chunks=[make_chunk(content="Hel")], hang=True)
    first_delta = asyncio.Event()

    async with OpenAIChatModel("gpt-test", base_url=fake_openai.base_url) as model:

        async def consume() -> None:
            async with contextlib.aclosing(model.stream(ask("Hi"))) as events:
                async for _ in events:
                    first_delta.set()
                    if how == "close_stream":
                        return

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first_delta.wait(), timeout=10)
        if how == "cancel_task":
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

        await asyncio.wait_for(fake_openai.client_left.wait(), timeout=5)


async def test_nothing_listening_is_a_retryable_error(
    unused_port: int, ask: Ask, collect: Collect
) -> None:
    async with OpenAIChatModel(
        "gpt-test", base_url=f"http://127.0.0.1:{unused_port}/v1", retry=RetryPolicy(max_attempts=1)
    ) as model:
        with pytest.raises(ModelError, match="APIConnectionError") as raised:
            await collect(model.stream(ask("Hi")))

    assert raised.value.retryable is True


async def test_a_local_server_needs_no_api_key(
    fake_openai: FakeServer,
    ask: Ask,
    collect: Collect,
    make_chunk: MakeChunk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake_openai.add_reply(chunks=[make_chunk(content="Hi", finish_reason="stop")])

    async with OpenAIChatModel("llama", base_url=fake_openai.base_url) as model:
        _, response = await collect(model.stream(ask("Hi")))

    assert response.text == "Hi"
    assert fake_openai.headers[0]["authorization"] == "Bearer not-needed"


def test_openai_itself_needs_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIChatModel("gpt-4o-mini")


async def test_forcing_a_tool_the_request_lacks_is_a_configuration_error(
    ask: Ask, collect: Collect, weather_spec: ToolSpec
) -> None:
    async with OpenAIChatModel(
        "gpt-test", base_url="http://127.0.0.1:9/v1", tool_choice="get_time"
    ) as model:
        with pytest.raises(ConfigurationError, match="get_time"):
            await collect(model.stream(ask("Hi", tools=[weather_spec])))


async def test_a_rate_limit_is_retried_after_the_wait_the_server_asked_and_priced(
    fake_openai: FakeServer,
    ask: Ask,
    collect: Collect,
    make_chunk: MakeChunk,
    fake_sleep: FakeSleep,
) -> None:
    fake_openai.add_reply(
        status=429,
        headers={"retry-after-ms": "1500"},
        error={
            "message": "Rate limit reached for gpt-4o-mini",
            "type": "requests",
            "code": "rate_limit_exceeded",
        },
    )
    fake_openai.add_reply(
        chunks=[
            make_chunk(content="Hi", finish_reason="stop"),
            make_chunk(
                usage={
                    "prompt_tokens": 2000,
                    "completion_tokens": 100,
                    "total_tokens": 2100,
                    "prompt_tokens_details": {"cached_tokens": 1000},
                }
            ),
        ]
    )

    async with OpenAIChatModel(
        "gpt-4o-mini", base_url=fake_openai.base_url, sleep=fake_sleep
    ) as model:
        _, response = await collect(model.stream(ask("Hi")))

    assert fake_sleep.waits == [1.5]
    assert len(fake_openai.requests) == 2
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per million tokens.
    assert response.usage.cost_usd == pytest.approx(
        (1000 * 0.15 + 1000 * 0.075 + 100 * 0.6) / 1_000_000
    )


async def test_a_history_too_long_for_the_model_is_a_context_length_error(
    fake_openai: FakeServer, ask: Ask, collect: Collect, fake_sleep: FakeSleep
) -> None:
    fake_openai.add_reply(
        status=400,
        error={
            "message": "This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130512 tokens. Please reduce the length of the "
            "messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
    )

    async with OpenAIChatModel("gpt-4o", base_url=fake_openai.base_url, sleep=fake_sleep) as model:
        with pytest.raises(ContextLengthError, match="maximum context length") as raised:
            await collect(model.stream(ask("Hi")))

    assert raised.value.retryable is False
    assert raised.value.code == "context_length_exceeded"
    assert fake_sleep.waits == []


def _without_raw(event: ModelEvent) -> ModelEvent:
    if isinstance(event, TextDelta):
        return TextDelta(delta=event.delta)
    if isinstance(event, ReasoningDelta):
        return ReasoningDelta(delta=event.delta)
    if isinstance(event, ToolCallDelta):
        return ToolCallDelta(
            index=event.index,
            tool_call_id=event.tool_call_id,
            name=event.name,
            arguments_delta=event.arguments_delta,
        )
    return event
