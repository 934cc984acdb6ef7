"""Client-managed history: without a `conversation` or `previous_response_id`, a request's
`input` is the whole conversation so far, and the server starts a thread from exactly that
history (stored before the turn, marked as the client's) and answers it. On both stores."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from history_items import HISTORY, LOOKUP
from recorded_harness import RecordedServer, user
from responses_harness import API_KEYS, RunningServer

from threadline.types import AgentMessage, ToolCall, ToolResult


def test_the_turn_reads_exactly_the_history_the_client_sent(
    recorded_client: openai.OpenAI, recorded: RecordedServer
) -> None:
    response = recorded_client.responses.create(
        model="assistant", tools=[LOOKUP], input=[*HISTORY, {"role": "user", "content": "say ok"}]
    )

    assert response.output_text == "ok"
    assert recorded.model.last_read() == [
        user('client lookup {"word": "tea"}'),
        ToolCall(tool_call_id="call_from_elsewhere", name="lookup", arguments='{"word": "tea"}'),
        ToolResult(tool_call_id="call_from_elsewhere", name="lookup", output="a drink"),
        AgentMessage(text="Tea is a drink."),
        user("say ok"),
    ]
    listed = recorded_client.responses.input_items.list(response.id, order="asc").data
    assert [(i.type, getattr(i, "role", None), getattr(i, "call_id", None)) for i in listed] == [
        ("message", "user", None),
        ("function_call", None, "call_from_elsewhere"),
        ("function_call_output", None, "call_from_elsewhere"),
        ("message", "assistant", None),
        ("message", "user", None),
    ]
    assert listed[3].content[0].text == "Tea is a drink."  # type: ignore[union-attr]
    stored = recorded_client.conversations.items.list(response.conversation.id, order="asc").data  # type: ignore[union-attr]
    assert [i.id for i in stored] == [*(i.id for i in listed), response.output[0].id]


def test_a_history_ending_with_outputs_is_answered(
    recorded_client: openai.OpenAI, recorded: RecordedServer
) -> None:
    response = recorded_client.responses.create(
        model="assistant", tools=[LOOKUP], input=HISTORY[:3]
    )

    assert response.output_text == "lookup returned a drink"
    assert recorded.model.last_read() == [
        user('client lookup {"word": "tea"}'),
        ToolCall(tool_call_id="call_from_elsewhere", name="lookup", arguments='{"word": "tea"}'),
        ToolResult(tool_call_id="call_from_elsewhere", name="lookup", output="a drink"),
    ]
    assert len(recorded_client.responses.input_items.list(response.id).data) == 3


def test_several_input_messages_become_several_items_in_order(
    recorded_client: openai.OpenAI, recorded: RecordedServer
) -> None:
    response = recorded_client.responses.create(
        model="assistant",
        input=[
            {"role": "user", "content": "alpha"},
            {"role": "user", "content": [{"type": "input_text", "text": "beta"}]},
            {"role": "user", "content": "say gamma"},
        ],
    )

    assert response.output_text == "gamma"
    assert recorded.model.last_read() == [user("alpha"), user("beta"), user("say gamma")]
    listed = recorded_client.responses.input_items.list(response.id, order="asc").data
    assert [i.content[0].text for i in listed] == ["alpha", "beta", "say gamma"]  # type: ignore[union-attr]
    newest_first = recorded_client.responses.input_items.list(response.id).data
    assert [i.id for i in newest_first] == [i.id for i in reversed(listed)]


@pytest.mark.parametrize(
    ("input", "message"),
    [
        (
            [{"type": "function_call_output", "call_id": "call_x", "output": "1"}],
            "No tool call found for function call output with call_id call_x.",
        ),
        (
            [HISTORY[0], HISTORY[1], {"role": "user", "content": "hi"}],
            "No tool output found for function call call_from_elsewhere.",
        ),
        ([*HISTORY[:3], HISTORY[2]], "two outputs for function call 'call_from_elsewhere'"),
        ([{"type": "item_reference", "id": "item_nope"}], "Item with id 'item_nope' not found."),
        (
            [
                {"role": "assistant", "content": "nul \u0000 inside"},
                {"role": "user", "content": "x"},
            ],
            "NUL",
        ),
    ],
)
async def test_a_history_no_conversation_could_have_is_refused_and_stores_nothing(
    recorded: RecordedServer,
    recorded_async_client: openai.AsyncOpenAI,
    input: list[Any],
    message: str,
) -> None:
    before = await recorded.thread_count()

    with pytest.raises(openai.BadRequestError) as refused:
        await recorded_async_client.responses.create(model="assistant", tools=[LOOKUP], input=input)

    assert message in refused.value.message
    assert await recorded.thread_count() == before


def test_an_item_reference_stands_for_an_item_of_another_response(
    recorded_client: openai.OpenAI, recorded: RecordedServer
) -> None:
    first = recorded_client.responses.create(model="assistant", input="say hello")

    second = recorded_client.responses.create(  # as the Vercel AI SDK sends a stored answer back
        model="assistant",
        input=[
            {"role": "user", "content": "say hello"},
            {"type": "item_reference", "id": first.output[0].id},
            {"role": "user", "content": "say more"},
        ],
    )

    assert second.output_text == "more"
    assert recorded.model.last_read() == [
        user("say hello"),
        AgentMessage(text="hello"),
        user("say more"),
    ]
    assert second.conversation.id != first.conversation.id  # type: ignore[union-attr]


def test_an_item_reference_to_another_keys_item_is_unknown(keyed_server: RunningServer) -> None:
    alpha, beta = (
        openai.OpenAI(base_url=keyed_server.base_url, api_key=key, max_retries=0)
        for key in API_KEYS
    )
    with alpha, beta:
        first = alpha.responses.create(model="assistant", input="say mine")
        reference = {"type": "item_reference", "id": first.output[0].id}
        message = {"role": "user", "content": "say next"}

        with pytest.raises(openai.BadRequestError, match="not found"):
            beta.responses.create(model="assistant", input=[reference, message])
        assert alpha.responses.create(model="assistant", input=[reference, message]).output_text


def test_an_approval_sent_with_the_history_continues_the_callers_conversation(
    keyed_server: RunningServer,
) -> None:
    alpha, beta = (
        openai.OpenAI(base_url=keyed_server.base_url, api_key=key, max_retries=0)
        for key in API_KEYS
    )
    with alpha, beta:
        paused = alpha.responses.create(model="assistant", input="transfer 6")
        [request] = paused.output
        history: list[Any] = [
            {"role": "user", "content": "transfer 6"},
            request.model_dump(),
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True},
        ]

        with pytest.raises(openai.BadRequestError, match="no approval request"):
            beta.responses.create(model="assistant", input=history)
        answered = alpha.responses.create(model="assistant", input=history)

    assert answered.output_text == "transfer returned sent 6"
    assert answered.conversation.id == paused.conversation.id  # type: ignore[union-attr]


def test_a_compaction_stands_for_the_history_it_summarises(
    recorded_client: openai.OpenAI, recorded: RecordedServer
) -> None:
    compacted = httpx.post(
        f"{recorded.server.base_url}/responses/compact",
        json={"model": "assistant", "input": [{"role": "user", "content": "say launch Tuesday"}]},
        timeout=30,
    ).json()
    summary = compacted["output"][-1]
    assert summary["type"] == "compaction"

    response = recorded_client.responses.create(
        model="assistant", input=[summary, {"role": "user", "content": "recall"}]
    )

    assert response.output_text == "Summary of the earlier conversation: launch Tuesday"
    assert recorded.model.last_read() == [user("recall")]
    read = [i.payload for i in recorded.model.requests[-1].items if i.type == "system_event"]
    summaries = [p.message for p in read if p.phase == "summary"]  # type: ignore[union-attr]
    assert summaries == ["Summary of the earlier conversation: launch Tuesday"]
