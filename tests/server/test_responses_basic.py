"""Creating responses with the official SDK: plain, streamed, with the stream helper, async."""

from __future__ import annotations

import openai
from dirty_equals import IsInt, IsStr

RESP = IsStr(regex=r"^resp_[0-9a-z]{26}_\d+$")
ITEM = IsStr(regex=r"^item_[0-9a-z]{26}$")


def test_a_response_answers_the_input(client: openai.OpenAI) -> None:
    response = client.responses.create(model="assistant", input="say Hello there")

    assert response.id == RESP
    assert response.status == "completed"
    assert response.output_text == "Hello there"
    assert response.model == "assistant"
    assert response.conversation is not None
    assert response.conversation.id.startswith("thr_")
    [message] = response.output
    assert message.model_dump(exclude_none=True) == {
        "id": ITEM,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [
            {"type": "output_text", "text": "Hello there", "annotations": [], "logprobs": []}
        ],
    }
    assert response.usage is not None
    assert response.usage.output_tokens == 2


def test_the_same_response_can_be_retrieved(client: openai.OpenAI) -> None:
    created = client.responses.create(model="assistant", input="say stored")

    again = client.responses.retrieve(created.id)

    assert again.model_dump(exclude={"completed_at"}) == created.model_dump(
        exclude={"completed_at"}
    )


def test_a_streamed_response_follows_the_responses_event_order(client: openai.OpenAI) -> None:
    stream = client.responses.create(model="assistant", input="say one two three", stream=True)
    events = list(stream)

    types = [e.type for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = events[0]
    assert created.type == "response.created"
    assert created.response.output == []
    assert created.response.status == "in_progress"
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)
    assert numbers[0] == 0
    added = events[2]
    assert added.type == "response.output_item.added"
    assert added.item.model_dump(exclude_none=True) == {
        "id": ITEM,
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    part = events[3]
    assert part.type == "response.content_part.added"
    assert part.part.model_dump(exclude_none=True) == {
        "type": "output_text",
        "text": "",
        "annotations": [],
        "logprobs": [],
    }
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == ["one ", "two ", "three"]
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "one two three"
    assert completed.sequence_number == IsInt


def test_the_stream_helper_returns_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model="assistant", input="say helper works") as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert "".join(texts) == "helper works"
    assert final.output_text == "helper works"
    assert final.status == "completed"


async def test_the_async_client_streams_too(async_client: openai.AsyncOpenAI) -> None:
    async with async_client.responses.stream(model="assistant", input="say async") as stream:
        final = await stream.get_final_response()

    assert final.output_text == "async"


def test_agent_tools_appear_as_mcp_calls(client: openai.OpenAI) -> None:
    with client.responses.stream(model="assistant", input="weather Oslo") as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()

    call, message = final.output
    assert call.model_dump(exclude_none=True) == {
        "id": ITEM,
        "type": "mcp_call",
        "server_label": "threadline",
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
        "output": '{"city":"Oslo","temp_c":18}',
        "status": "completed",
    }
    assert message.type == "message"
    assert final.output_text == 'get_weather returned {"city":"Oslo","temp_c":18}'
    assert "response.mcp_call.in_progress" in types
    assert "response.mcp_call.completed" in types


def test_reasoning_is_a_reasoning_item(client: openai.OpenAI) -> None:
    response = client.responses.create(model="assistant", input="reason done")

    thought, answer = response.output
    assert thought.type == "reasoning"
    assert thought.content is not None
    assert [c.text for c in thought.content] == ["thinking about it"]
    assert answer.type == "message"
    assert response.output_text == "done"


def test_a_failing_model_fails_the_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model="assistant", input="fail")

    assert response.status == "failed"
    assert response.error is not None
    assert response.error.code == "server_error"
    assert "model_error" in response.error.message


def test_model_names_an_agent_for_a_new_conversation(client: openai.OpenAI) -> None:
    other = client.responses.create(model="other", input="hi")
    default = client.responses.create(model="gpt-4.1", input="hi")

    assert other.model == "other"
    assert default.model == "assistant"
