"""The OpenAI Agents SDK keeps a session in threadline through `OpenAIConversationsSession`."""

from __future__ import annotations

import openai
from agents.memory import OpenAIConversationsSession


async def test_a_session_lives_in_a_threadline_conversation(
    async_client: openai.AsyncOpenAI,
) -> None:
    session = OpenAIConversationsSession(openai_client=async_client)

    assert await session.get_items() == []
    await session.add_items(
        [
            {"role": "user", "content": "What is the capital of Norway?"},
            {"role": "assistant", "content": "Oslo."},
            {"role": "user", "content": "And of Sweden?"},
        ]
    )
    items = await session.get_items()
    assert [(i.get("role"), i["content"][0]["text"]) for i in items] == [  # type: ignore[index, union-attr]
        ("user", "What is the capital of Norway?"),
        ("assistant", "Oslo."),
        ("user", "And of Sweden?"),
    ]
    conversation = await async_client.conversations.retrieve(session.session_id)
    assert conversation.id.startswith("thr_")

    popped = await session.pop_item()
    assert popped is not None
    assert popped["content"][0]["text"] == "And of Sweden?"
    assert len(await session.get_items()) == 2
    assert len(await session.get_items(limit=1)) == 1

    await session.clear_session()
    assert await session.get_items() == []


async def test_responses_continue_the_sessions_conversation(
    async_client: openai.AsyncOpenAI,
) -> None:
    session = OpenAIConversationsSession(openai_client=async_client)
    await session.add_items([{"role": "user", "content": "say remembered"}])

    response = await async_client.responses.create(
        model="assistant", conversation=session.session_id, input="say next"
    )

    assert response.output_text == "next"
    items = await session.get_items()
    assert [i.get("role") for i in items] == ["user", "user", "assistant"]
