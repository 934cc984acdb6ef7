"""The agent's answer reaches the conversation as it is produced: a placeholder edited in
place where the platform can edit, one post where it cannot, and a new message past the
platform's length limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from bot_harness import BotFactory

import threadline as tl
from threadline.testing import MemoryChat, ScriptedToolCall, Step, fail

ANSWER = "Paris is the capital of **France**."


async def test_a_mention_streams_the_answer_into_a_placeholder_edited_in_place(
    make_bot: BotFactory,
) -> None:
    running = await make_bot([ANSWER], capabilities={"edit", "delete", "markdown"})

    await running.chat.say("ann", "@bot capital of France?", mention=True)

    (reply,) = running.chat.posted()
    assert reply.text == ANSWER
    assert reply.versions[0] == "…"  # the placeholder, shown before the first words
    assert reply.versions[1:] == [
        "Paris ",
        "Paris is ",
        "Paris is the ",
        "Paris is the capital ",
        "Paris is the capital of ",
        ANSWER,
    ]
    thread = await running.bot.conversation("memory", "general").thread()
    assert [i.type for i in await thread.items()] == ["user_message", "agent_message"]


async def test_edits_are_throttled_to_the_stream_interval(make_bot: BotFactory) -> None:
    running = await make_bot([ANSWER], capabilities={"edit", "delete"}, stream_interval=3600)

    await running.chat.say("ann", "capital of France?", mention=True)

    (reply,) = running.chat.posted()
    # The first piece is shown at once; then nothing until the final text.
    assert reply.versions == ["…", "Paris ", "Paris is the capital of France."]


async def test_without_edits_the_answer_is_posted_once_complete(make_bot: BotFactory) -> None:
    running = await make_bot([ANSWER], capabilities=set())

    await running.chat.say("ann", "capital of France?", mention=True)

    (reply,) = running.chat.posted()
    assert reply.versions == ["Paris is the capital of France."]  # no markdown: plain text


@pytest.mark.parametrize("capabilities", [{"edit"}, set()], ids=["edits", "no-edits"])
async def test_an_answer_past_the_length_limit_continues_in_a_new_message(
    make_bot: BotFactory, capabilities: set[str]
) -> None:
    words = " ".join(f"word{i:02d}" for i in range(30))  # 209 characters
    chat_limit = 60
    chat = MemoryChat(capabilities=capabilities, max_message_length=chat_limit)  # type: ignore[arg-type]
    running = await make_bot([words], chat=chat)

    await chat.say("ann", "talk", mention=True)

    replies = chat.messages()[1:]
    assert len(replies) == 4
    assert all(len(m.text) <= chat_limit for m in replies)
    assert " ".join(m.text for m in replies) == words  # cut between words, nothing lost
    for reply in replies:  # every version fitted the limit too (MemoryChat refuses others)
        assert all(len(v) <= chat_limit for v in reply.versions)
    assert running.model.remaining == 0


async def test_each_message_of_a_turn_is_its_own_post(make_bot: BotFactory) -> None:
    @tl.tool
    async def look_up(city: str) -> str:
        """Look a city up."""
        return f"{city}: 2.1 million people"

    running = await make_bot(
        [
            Step(
                text="Let me look.",
                tool_calls=[ScriptedToolCall(name="look_up", arguments='{"city": "Paris"}')],
            ),
            "About 2.1 million people.",
        ],
        capabilities={"edit", "delete"},
        agent_tools=[look_up],
    )

    await running.chat.say("ann", "How many people live in Paris?", mention=True)

    assert [m.text for m in running.chat.messages()[1:]] == [
        "Let me look.",
        "About 2.1 million people.",
    ]
    assert not [m for m in running.chat.posted() if m.deleted]


async def test_stream_takes_text_or_an_async_iterable(make_bot: BotFactory) -> None:
    async def pieces() -> AsyncIterator[str]:
        for piece in ["one ", "two ", "three"]:
            yield piece

    async def on_mention(ctx: tl.bots.Context) -> None:
        await ctx.thread.stream(pieces())
        await ctx.thread.stream("just this")
        assert await ctx.thread.stream("  ") is None

    running = await make_bot([], capabilities={"edit"}, on_mention=on_mention)

    await running.chat.say("ann", "count", mention=True)

    first, second = running.chat.posted()
    assert first.versions == ["…", "one ", "one two ", "one two three"]
    assert second.versions == ["just this"]


async def test_a_failed_turn_says_so_in_the_conversation(make_bot: BotFactory) -> None:
    failures: list[BaseException] = []

    async def on_mention(ctx: tl.bots.Context) -> None:
        try:
            await ctx.thread.run_agent()
        except tl.TurnFailedError as exc:
            failures.append(exc)

    running = await make_bot(
        [fail(tl.ModelError("the provider is down"), after_text="Half an")],
        capabilities={"edit"},
        on_mention=on_mention,
    )

    await running.chat.say("ann", "hello", mention=True)

    assert len(failures) == 1
    texts = [m.text for m in running.chat.messages()[1:]]
    assert texts[-1] == "Sorry, I could not finish this answer (model_error)."
    assert "provider is down" not in " ".join(texts)
