"""Histories become Responses `input` and Messages `messages` that the providers accept,
with each step's reasoning handed back where it was."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

from threadline.models import ModelRequest, ModelResponse, reasoning_data
from threadline.models._anthropic_format import anthropic_messages
from threadline.models._responses_format import responses_input
from threadline.types import (
    AgentMessage,
    FilePart,
    Item,
    ItemStatus,
    Payload,
    Reasoning,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)

if TYPE_CHECKING:
    from conftest import MakeReasoning


def request(*entries: Payload | tuple[Payload, ItemStatus], turn: str = "t1") -> ModelRequest:
    items: list[Item] = []
    for seq, entry in enumerate(entries, start=1):
        payload, status = entry if isinstance(entry, tuple) else (entry, "completed")
        items.append(
            Item(
                item_id=f"i{seq}",
                thread_id="t",
                turn_id=turn,
                seq=seq,
                status=status,
                payload=payload,
                created_at=float(seq),
            )
        )
    return ModelRequest(instructions=None, items=items)


def ask(text: str = "Hi") -> UserMessage:
    return UserMessage(content=(TextPart(text=text),))


def call(call_id: str, arguments: str = "{}") -> ToolCall:
    return ToolCall(tool_call_id=call_id, name="lookup", arguments=arguments)


def result(call_id: str, output: str = "42") -> ToolResult:
    return ToolResult(tool_call_id=call_id, name="lookup", output=output)


def thought(make: MakeReasoning, provider: str, skeleton: Sequence[dict[str, Any]]) -> Reasoning:
    return make("hmm", {provider: {"skeleton": list(skeleton)}})


RS_1 = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc1"}
RS_2 = {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "enc2"}


def test_responses_keep_interleaved_reasoning_in_its_original_order(
    make_reasoning: MakeReasoning,
) -> None:
    skeleton = [
        RS_1,
        {"type": "function_call", "id": "fc_a", "call_id": "a"},
        RS_2,
        {"type": "function_call", "id": "fc_b", "call_id": "b"},
    ]

    wire = responses_input(
        request(
            ask(),
            thought(make_reasoning, "openai_responses", skeleton),
            call("a"),
            call("b"),
            result("a"),
            result("b"),
        )
    )

    assert [item.get("id") or item.get("call_id") or item.get("role") for item in wire] == [
        "user",
        "rs_1",
        "fc_a",
        "rs_2",
        "fc_b",
        "a",
        "b",
    ]


def test_responses_leave_out_reasoning_whose_following_item_is_gone(
    make_reasoning: MakeReasoning,
) -> None:
    # The step's text was cut off (cancelled), so the message rs_1 belongs to is not sent.
    skeleton = [RS_1, {"type": "message", "id": "msg_1"}]

    wire = responses_input(
        request(
            ask(),
            thought(make_reasoning, "openai_responses", skeleton),
            (AgentMessage(text="Half"), "cancelled"),
            ask("Again"),
        )
    )

    assert wire == [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}]


def test_reasoning_without_state_for_the_provider_is_not_sent(
    make_reasoning: MakeReasoning,
) -> None:
    skeleton = [{"type": "thinking", "thinking": "x", "signature": "s"}, {"type": "text"}]
    entries = (
        ask(),
        thought(make_reasoning, "anthropic", skeleton),
        AgentMessage(text="Hello"),
        Reasoning(text="plain"),
        AgentMessage(text="Bye"),
    )

    assert responses_input(request(*entries)) == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "assistant", "content": "Bye"},
    ]
    assert anthropic_messages(request(*entries[:1], *entries[3:])) == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Bye"}]},
    ]


def test_two_steps_of_a_turn_stay_two_assistant_messages(make_reasoning: MakeReasoning) -> None:
    first = [
        {"type": "thinking", "thinking": "one", "signature": "s1"},
        {"type": "tool_use", "id": "a"},
    ]
    second = [{"type": "thinking", "thinking": "two", "signature": "s2"}, {"type": "text"}]

    messages = anthropic_messages(
        request(
            ask(),
            thought(make_reasoning, "anthropic", first),
            call("a"),
            result("a"),
            thought(make_reasoning, "anthropic", second),
            AgentMessage(text="Done"),
        )
    )

    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "one", "signature": "s1"},
                {"type": "tool_use", "id": "a", "name": "lookup", "input": {}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "42"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "two", "signature": "s2"},
                {"type": "text", "text": "Done"},
            ],
        },
    ]


def test_anthropic_puts_tool_results_before_a_steering_message() -> None:
    messages = anthropic_messages(
        request(ask(), call("a"), call("b"), result("a"), ask("Also, hurry"), result("b"))
    )

    assert messages[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "a", "content": "42"},
            {"type": "tool_result", "tool_use_id": "b", "content": "42"},
            {"type": "text", "text": "Also, hurry"},
        ],
    }


@pytest.mark.parametrize(
    ("arguments", "sent"),
    [
        ('{"q": 1}', {"q": 1}),
        ("", {}),
        ("not json", {"arguments": "not json"}),
        ("[1, 2]", {"arguments": "[1, 2]"}),
    ],
)
def test_anthropic_tool_input_is_always_an_object(arguments: str, sent: dict[str, Any]) -> None:
    messages = anthropic_messages(request(ask(), call("a", arguments), result("a")))

    assert messages[1]["content"][0]["input"] == sent


def test_files_are_announced_and_empty_text_is_left_out() -> None:
    message = UserMessage(
        content=(TextPart(text=""), FilePart(file_id="file_1", filename="report.pdf"))
    )

    assert anthropic_messages(request(message))[0]["content"] == [
        {"type": "text", "text": "[attached file: report.pdf]"}
    ]
    assert responses_input(request(message))[0]["content"] == [
        {"type": "input_text", "text": "[attached file: report.pdf]"}
    ]


def test_reasoning_data_needs_the_providers_final_response() -> None:
    assert reasoning_data(ModelResponse(raw="not a response")) == {}
    assert (
        reasoning_data(
            ModelResponse(
                raw={
                    "object": "response",
                    "output": [{"type": "message", "id": "msg_1", "content": []}],
                }
            )
        )
        == {}
    )
    assert reasoning_data(
        ModelResponse(
            raw={
                "type": "message",
                "content": [
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "Hi"},
                ],
            }
        )
    ) == {
        "anthropic": {
            "skeleton": [{"type": "redacted_thinking", "data": "opaque"}, {"type": "text"}]
        }
    }
