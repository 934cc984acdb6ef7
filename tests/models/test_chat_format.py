"""A thread's history becomes Chat Completions messages that a provider accepts."""

from __future__ import annotations

from threadline.models import ModelRequest, ToolSpec
from threadline.models._chat_format import chat_messages, chat_tools, response_format
from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    ErrorPayload,
    ImagePart,
    Item,
    ItemStatus,
    Payload,
    Reasoning,
    SystemEvent,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)


def _items(*entries: tuple[str | None, ItemStatus, Payload]) -> list[Item]:
    return [
        Item(
            item_id=f"item_{seq}",
            thread_id="thread_1",
            turn_id=turn_id,
            seq=seq,
            status=status,
            payload=payload,
            created_at=1_700_000_000.0 + seq,
        )
        for seq, (turn_id, status, payload) in enumerate(entries, start=1)
    ]


def test_a_tool_calling_history_becomes_chat_messages() -> None:
    paris = '{"city": "Paris"}'
    rome = '{"city": "Rome"}'
    items = _items(
        (
            "turn_1",
            "completed",
            UserMessage(content=(TextPart(text="Weather in Paris and Rome?"),)),
        ),
        ("turn_1", "completed", Reasoning(text="Two cities, two calls.")),
        ("turn_1", "completed", AgentMessage(text="Let me check both.")),
        (
            "turn_1",
            "completed",
            ToolCall(tool_call_id="call_1", name="get_weather", arguments=paris),
        ),
        (
            "turn_1",
            "completed",
            ToolCall(tool_call_id="call_2", name="get_weather", arguments=rome),
        ),
        (
            "turn_1",
            "completed",
            ToolResult(tool_call_id="call_1", name="get_weather", output='{"temp_c": 21}'),
        ),
        # A result is always sent, whatever its status: every call needs its answer.
        (
            "turn_1",
            "failed",
            ToolResult(
                tool_call_id="call_2",
                name="get_weather",
                output="the tool timed out",
                outcome="error",
            ),
        ),
        ("turn_1", "completed", AgentMessage(text="21°C in Paris; Rome did not answer.")),
        (
            "turn_2",
            "completed",
            UserMessage(
                content=(
                    TextPart(text="And this sky?"),
                    ImagePart(url="https://example.com/sky.png", detail="low"),
                )
            ),
        ),
        ("turn_2", "cancelled", AgentMessage(text="It looks clou")),
        ("turn_2", "completed", SystemEvent(phase="interrupt", message="interrupted by the user")),
        ("turn_2", "completed", AgentMessage(text="{city: Paris}")),
        (
            "turn_2",
            "completed",
            SystemEvent(
                phase="repair",
                message="Your answer is not valid JSON. Answer with JSON only.",
                data={"attempt": 1},
            ),
        ),
        ("turn_2", "completed", ErrorPayload(code="model_error", message="rate limited")),
        ("turn_2", "completed", AgentMessage(text='{"city": "Paris"}')),
        # A new turn's call does not join the previous turn's answer.
        (
            "turn_3",
            "completed",
            ToolCall(tool_call_id="call_3", name="get_weather", arguments=paris),
        ),
        (
            "turn_3",
            "completed",
            ApprovalRequest(
                tool_call_id="call_3", name="get_weather", arguments=paris, arguments_hash="h"
            ),
        ),
        (
            "turn_3",
            "in_progress",
            ToolCall(tool_call_id="call_4", name="get_weather", arguments='{"ci'),
        ),
        (
            "turn_3",
            "completed",
            ToolResult(tool_call_id="call_3", name="get_weather", output='{"temp_c": 20}'),
        ),
    )
    request = ModelRequest(instructions="You are a weather bot.", items=items)

    assert chat_messages(request) == [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Let me check both.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": paris},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": rome},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "the tool timed out"},
        {"role": "assistant", "content": "21°C in Paris; Rome did not answer."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this sky?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/sky.png", "detail": "low"},
                },
            ],
        },
        {"role": "assistant", "content": "{city: Paris}"},
        {"role": "user", "content": "Your answer is not valid JSON. Answer with JSON only."},
        {"role": "assistant", "content": '{"city": "Paris"}'},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_3",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": paris},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_3", "content": '{"temp_c": 20}'},
    ]


def test_no_instructions_means_no_system_message() -> None:
    items = _items(("turn_1", "completed", UserMessage(content=(TextPart(text="Hi"),))))

    assert chat_messages(ModelRequest(instructions=None, items=items)) == [
        {"role": "user", "content": "Hi"}
    ]


def test_tools_become_functions() -> None:
    spec = ToolSpec(
        name="get_weather",
        description="Weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )

    assert chat_tools([spec]) == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]


def test_an_output_schema_becomes_the_response_format_of_each_dialect() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}

    assert response_format(None) is None
    assert response_format(schema) == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }
    assert response_format(schema, dialect="llama") == {"type": "json_object", "schema": schema}
