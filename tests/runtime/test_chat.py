"""`app.chat` by the caller's own thread key: the first call creates the thread, later calls
continue it; failures are a status, not an exception."""

from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.runtime._agent_result import AgentResult
from threadline.testing import Step, fail
from threadline.types import ModelError, UserMessage


async def test_the_first_call_creates_the_thread_and_later_calls_continue_it(
    make_app: Any,
) -> None:
    app, model = await make_app(["Hello Ada.", "You are Ada."])

    first = await app.chat(
        "assistant", "I am Ada.", thread_id="thread-1", resource_id="user-42", user_id="u1"
    )
    second = await app.chat("assistant", "Who am I?", thread_id="thread-1", user_id="u1")

    assert (first.status, first.text) == ("completed", "Hello Ada.")
    assert (second.status, second.text) == ("completed", "You are Ada.")
    assert second.thread_id == first.thread_id
    thread = await app.threads.resume(first.thread_id)
    assert (thread.record.key, thread.record.resource_id) == ("thread-1", "user-42")
    assert (thread.record.user_id, thread.record.agent) == ("u1", "assistant")
    asked = [i.text for i in model.requests[1].items if isinstance(i.payload, UserMessage)]
    assert asked == ["I am Ada.", "Who am I?"]  # the second call saw the first


async def test_a_key_names_a_thread_of_its_user_only(make_app: Any) -> None:
    app, model = await make_app(["one", "two"])

    mine = await app.chat("assistant", "hi", thread_id="t", user_id="ann")
    theirs = await app.chat("assistant", "hi", thread_id="t", user_id="bob")

    assert mine.thread_id != theirs.thread_id
    assert len(model.requests[1].items) == 1  # bob's thread starts empty


async def test_a_failed_turn_is_a_status_and_keeps_what_it_produced(make_app: Any) -> None:
    app, _ = await make_app([fail(ModelError("the provider is down"), after_text="Partial ans")])

    result = await app.chat("assistant", "hi", thread_id="t")

    assert isinstance(result, AgentResult)
    assert result.status == "errored"
    assert result.error is not None and "the provider is down" in result.error["message"]
    items = await (await app.threads.resume(result.thread_id)).items()
    assert any(i.type == "agent_message" and i.text == "Partial ans" for i in items)


async def test_chat_stream_yields_events_then_the_result(make_app: Any) -> None:
    app, _ = await make_app([Step(text="Hello there")])

    envelopes = [e async for e in app.chat_stream("assistant", "hi", thread_id="t")]

    assert [e.type for e in envelopes[:-1]] == ["event"] * (len(envelopes) - 1)
    deltas = [
        e.event.params["delta"]
        for e in envelopes
        if e.event and e.event.type == "agent_message_delta"
    ]
    assert "".join(deltas) == "Hello there"
    last = envelopes[-1]
    assert last.type == "result" and last.result is not None
    assert (last.result.status, last.result.text) == ("completed", "Hello there")


async def test_a_key_of_another_agent_resource_or_namespace_is_refused(make_app: Any) -> None:
    agents = [tl.Agent(name="support"), tl.Agent(name="sales")]
    app, _ = await make_app(["ok"], agents=agents)
    await app.chat("support", "hi", thread_id="t", resource_id="user-1", memory_agent_id="helpdesk")

    with pytest.raises(tl.InvalidInputError, match="agent 'support'"):
        await app.chat("sales", "hi", thread_id="t")
    with pytest.raises(tl.InvalidInputError, match="resource"):
        await app.chat("support", "hi", thread_id="t", resource_id="user-2")
    with pytest.raises(tl.InvalidInputError, match="memory_agent_id"):
        await app.chat("support", "hi", thread_id="t", memory_agent_id="other")
    assert len((await app.threads.list()).threads) == 1


@pytest.mark.parametrize(
    "arguments",
    [
        {"thread_id": ""},
        {"thread_id": 7},
        {"thread_id": "t", "resource_id": ""},
        {"thread_id": "t", "memory_agent_id": ""},
        {"thread_id": "t", "budget": {"max_tokens": 3}},
    ],
)
async def test_bad_arguments_are_refused_and_change_nothing(
    make_app: Any, arguments: dict[str, Any]
) -> None:
    app, _ = await make_app()

    with pytest.raises(tl.InvalidInputError):
        await app.chat("assistant", "hi", **arguments)
    with pytest.raises(tl.InvalidInputError):
        app.chat_stream("assistant", "hi", **arguments)
    with pytest.raises(tl.ConfigurationError, match="no agent named"):
        await app.chat("nobody", "hi", thread_id="t")
    assert len((await app.threads.list()).threads) == 0
