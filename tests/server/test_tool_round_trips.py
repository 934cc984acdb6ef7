"""The pauses of a turn over the wire: a tool that needs approval (`mcp_approval_request` →
`mcp_approval_response`) and a function tool the client runs (`function_call` →
`function_call_output`), continued through `previous_response_id` or `conversation`."""

from __future__ import annotations

import json

import openai
import pytest
from dirty_equals import IsStr

ITEM = IsStr(regex=r"^item_[0-9a-z]{26}$")
LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {
        "type": "object",
        "properties": {"word": {"type": "string"}},
        "required": ["word"],
    },
}


def test_an_approval_pauses_the_response_until_the_client_answers(client: openai.OpenAI) -> None:
    first = client.responses.create(model="assistant", input="transfer 5")

    assert first.status == "completed"
    [request] = first.output
    assert request.model_dump() == {
        "id": ITEM,
        "type": "mcp_approval_request",
        "server_label": "threadline",
        "name": "transfer",
        "arguments": '{"amount": 5}',
    }

    second = client.responses.create(
        model="assistant",
        previous_response_id=first.id,
        input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
        ],
    )

    assert second.id != first.id
    call, _message = second.output
    assert call.type == "mcp_call"
    assert call.output == "sent 5"
    assert call.approval_request_id == request.id
    assert second.output_text == "transfer returned sent 5"
    inputs = list(client.responses.input_items.list(second.id))
    assert [i.type for i in inputs] == ["mcp_approval_response"]
    assert client.responses.retrieve(first.id).output == first.output


def test_a_denied_approval_runs_nothing(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    first = client.responses.create(
        model="assistant", input="transfer 7", conversation=conversation.id
    )
    [request] = first.output

    with client.responses.stream(
        model="assistant",
        conversation=conversation.id,
        input=[
            {
                "type": "mcp_approval_response",
                "approval_request_id": request.id,
                "approve": False,
                "reason": "too much",
            }
        ],
    ) as stream:
        final = stream.get_final_response()

    call, _ = final.output
    assert call.type == "mcp_call"
    assert call.status == "failed"
    assert call.output is None
    assert "denied" in final.output_text


def test_a_new_message_abandons_an_unanswered_approval(client: openai.OpenAI) -> None:
    first = client.responses.create(model="assistant", input="transfer 9")

    second = client.responses.create(
        model="assistant", previous_response_id=first.id, input="say never mind"
    )

    assert second.output_text == "never mind"


@pytest.mark.parametrize("continued_by", ["previous_response_id", "conversation"])
def test_a_client_function_tool_round_trip(client: openai.OpenAI, continued_by: str) -> None:
    conversation = client.conversations.create()
    first = client.responses.create(
        model="assistant",
        tools=[LOOKUP],
        input='client lookup {"word": "tea"}',
        **({"conversation": conversation.id} if continued_by == "conversation" else {}),
    )

    [call] = first.output
    assert call.model_dump(exclude_none=True) == {
        "id": ITEM,
        "type": "function_call",
        "call_id": "call_lookup_0",
        "name": "lookup",
        "arguments": '{"word": "tea"}',
        "status": "completed",
    }
    assert first.status == "completed"
    assert first.tools[0].model_dump(exclude_none=True) == {
        "type": "function",
        "name": "lookup",
        "description": "Look a word up.",
        "parameters": LOOKUP["parameters"],
        "strict": False,
    }

    link = (
        {"previous_response_id": first.id}
        if continued_by == "previous_response_id"
        else {"conversation": conversation.id}
    )
    second = client.responses.create(
        model="assistant",
        tools=[LOOKUP],
        **link,
        input=[
            {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": json.dumps({"meaning": "a drink"}),
            }
        ],
    )

    assert second.output_text == 'lookup returned {"meaning": "a drink"}'
    inputs = list(client.responses.input_items.list(second.id))
    assert [(i.type, getattr(i, "call_id", None)) for i in inputs] == [
        ("function_call_output", "call_lookup_0")
    ]


def test_a_streamed_function_call_streams_its_arguments(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="assistant", tools=[LOOKUP], input='client lookup {"word": "sky"}'
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()

    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert "".join(deltas) == '{"word": "sky"}'
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done.arguments == '{"word": "sky"}'
    assert final.output[0].type == "function_call"


def test_a_message_without_the_pending_output_is_refused(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model="assistant", tools=[LOOKUP], input='client lookup {"word": "x"}'
    )

    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        client.responses.create(model="assistant", previous_response_id=first.id, input="say hello")


def test_an_output_for_an_unknown_call_is_refused(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model="assistant", tools=[LOOKUP], input='client lookup {"word": "y"}'
    )

    with pytest.raises(openai.BadRequestError, match="call_nope"):
        client.responses.create(
            model="assistant",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": "call_nope", "output": "1"}],
        )
