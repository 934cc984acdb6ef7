"""With a `conversation` or `previous_response_id`, items a client sends back that the thread
holds already (by id, by call_id, or the same messages in the same place) are recognised and
stored once; what follows them is new. On both stores."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from history_items import LOOKUP
from recorded_harness import RecordedServer, user

from threadline.types import AgentMessage, ToolCall


@pytest.mark.parametrize("continued_by", ["previous_response_id", "conversation"])
def test_items_sent_back_are_stored_once(
    recorded_client: openai.OpenAI, recorded: RecordedServer, continued_by: str
) -> None:
    conversation = recorded_client.conversations.create()
    link: dict[str, Any] = {"conversation": conversation.id}
    first = recorded_client.responses.create(
        model="assistant", tools=[LOOKUP], input='client lookup {"word": "sky"}', **link
    )
    [call] = first.output
    assert call.type == "function_call"
    if continued_by == "previous_response_id":
        link = {"previous_response_id": first.id}
    sent_back: list[Any] = [
        {"role": "user", "content": 'client lookup {"word": "sky"}'},  # no id: known by content
        {  # the function call as the SDK echoes it, with our item id
            "type": "function_call",
            "id": call.id,
            "call_id": call.call_id,  # type: ignore[union-attr]
            "name": "lookup",
            "arguments": '{"word": "sky"}',
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "blue"},  # type: ignore[union-attr]
    ]

    second = recorded_client.responses.create(
        model="assistant", tools=[LOOKUP], input=sent_back, **link
    )
    link = {"previous_response_id": second.id} if continued_by != "conversation" else link
    [answer] = second.output
    third = recorded_client.responses.create(
        model="assistant",
        tools=[LOOKUP],
        input=[
            *sent_back,
            {"type": "item_reference", "id": answer.id},
            {"role": "user", "content": "say done"},
        ],
        **link,
    )

    assert second.output_text == "lookup returned blue"
    assert third.output_text == "done"
    stored = recorded_client.conversations.items.list(conversation.id, order="asc").data
    assert [(i.type, getattr(i, "role", None)) for i in stored] == [
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    assert [i.type for i in recorded_client.responses.input_items.list(third.id).data] == [
        "message"
    ]
    assert [type(p).__name__ for p in recorded.model.last_read()] == [
        "UserMessage",
        "ToolCall",
        "ToolResult",
        "AgentMessage",
        "UserMessage",
    ]


def test_a_conversation_sent_back_without_ids_is_recognised(
    recorded_client: openai.OpenAI, recorded: RecordedServer
) -> None:
    first = recorded_client.responses.create(model="assistant", input="say hello")
    history = [
        {"role": "user", "content": "say hello"},
        {"role": "assistant", "content": "hello"},
    ]

    second = recorded_client.responses.create(
        model="assistant",
        previous_response_id=first.id,
        input=[*history, {"role": "user", "content": "say again"}],
    )
    repeated = recorded_client.responses.create(
        model="assistant", previous_response_id=second.id, input="say hello"
    )

    assert recorded.model.last_read() == [
        user("say hello"),
        AgentMessage(text="hello"),
        user("say again"),
        AgentMessage(text="again"),
        user("say hello"),  # the same words again, alone, are a new message
    ]
    assert repeated.output_text == "hello"


def test_a_new_call_under_a_call_id_the_conversation_holds_keeps_the_clients_id(
    recorded_client: openai.OpenAI, recorded: RecordedServer
) -> None:
    first = recorded_client.responses.create(
        model="assistant", tools=[LOOKUP], input='client lookup {"word": "one"}'
    )
    [call] = first.output
    call_id = call.call_id  # type: ignore[union-attr]
    second = recorded_client.responses.create(
        model="assistant",
        tools=[LOOKUP],
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call_id, "output": "1"}],
    )

    third = recorded_client.responses.create(
        model="assistant",
        tools=[LOOKUP],
        previous_response_id=second.id,
        input=[  # a call the client made elsewhere, under the same id
            {"type": "function_call", "call_id": call_id, "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": call_id, "output": "2"},
        ],
    )

    assert third.output_text == "lookup returned 2"
    read = [p for p in recorded.model.last_read() if isinstance(p, ToolCall)]
    assert read[0].tool_call_id == call_id
    assert read[1].tool_call_id != call_id  # stored under a fresh id
    listed = recorded_client.responses.input_items.list(third.id, order="asc").data
    assert [(i.type, i.call_id) for i in listed] == [  # type: ignore[union-attr]
        ("function_call", call_id),
        ("function_call_output", call_id),
    ]


def test_input_with_nothing_new_is_answered_as_the_conversation_stands(
    recorded_client: openai.OpenAI, recorded: RecordedServer
) -> None:
    conversation = recorded_client.conversations.create(
        items=[{"role": "user", "content": "say stored"}]
    )
    [stored] = recorded_client.conversations.items.list(conversation.id).data

    response = recorded_client.responses.create(
        model="assistant",
        conversation=conversation.id,
        input=[{"type": "item_reference", "id": stored.id}],
    )

    assert response.output_text == "stored"
    assert recorded.model.last_read() == [user("say stored")]
    assert recorded_client.responses.input_items.list(response.id).data == []
    paused = recorded_client.responses.create(
        model="assistant", conversation=conversation.id, input="transfer 5"
    )
    assert paused.output[0].type == "mcp_approval_request"
    with pytest.raises(openai.BadRequestError, match="waits for the answer to an approval"):
        recorded_client.responses.create(model="assistant", conversation=conversation.id, input=[])


def test_new_items_before_items_the_conversation_holds_are_refused(
    recorded_client: openai.OpenAI,
) -> None:
    first = recorded_client.responses.create(model="assistant", input="say hi")

    with pytest.raises(openai.BadRequestError, match="is not part of this conversation"):
        recorded_client.responses.create(
            model="assistant",
            previous_response_id=first.id,
            input=[
                {"role": "user", "content": "never said"},
                {"type": "item_reference", "id": first.output[0].id},
                {"role": "user", "content": "say more"},
            ],
        )
