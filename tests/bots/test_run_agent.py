"""`run_agent`: per-run context and tools layered on the bot's, the prompt, and the transcript
bridge that brings what people said on the platform into the thread once."""

from __future__ import annotations

from typing import Any

import pytest
from bot_harness import BotFactory

import threadline as tl
from threadline.bots import ContextEntry
from threadline.testing import MemoryChat, tool_call
from threadline.types import SystemEvent, UserMessage


@tl.tool
async def bot_tool() -> str:
    """The bot's own tool."""
    return "bot"


@tl.tool
async def run_tool() -> str:
    """A tool for one run."""
    return "run"


@tl.tool
async def agent_tool() -> str:
    """The agent's tool."""
    return "agent"


async def test_context_and_tools_are_layered_per_run(make_bot: BotFactory) -> None:
    async def on_mention(ctx: tl.bots.Context) -> None:
        if ctx.message.text == "first":
            await ctx.thread.run_agent(
                context=[ContextEntry("Requesting user", ctx.message.user.name)],
                tools=[run_tool],
                prompt="Say hi to the team",
            )
        else:
            await ctx.thread.run_agent()

    running = await make_bot(
        [tool_call("run_tool"), "Hi team.", "Plain."],
        tools=[bot_tool],
        agent_tools=[agent_tool],
        context=[ContextEntry("Team", "Platform")],
        on_mention=on_mention,
    )
    await running.chat.say("ann", "first", mention=True)
    await running.chat.say("ann", "second", mention=True)

    first, after_tool, second = running.model.requests
    assert first.instructions == (
        "Be brief.\n\nContext of this conversation:\n- Team: Platform\n- Requesting user: Ann"
    )
    assert [t.name for t in first.tools] == ["agent_tool", "bot_tool", "run_tool"]
    assert after_tool.instructions == first.instructions  # the run's, at every step
    user = [i.payload for i in first.items if isinstance(i.payload, UserMessage)]
    assert user[0].content[0].text == "Say hi to the team"  # type: ignore[union-attr]
    assert user[0].sender == "Ann"
    assert second.instructions == "Be brief.\n\nContext of this conversation:\n- Team: Platform"
    assert [t.name for t in second.tools] == ["agent_tool", "bot_tool"]  # the run's are gone


async def test_bad_arguments_are_refused_before_anything_is_stored(make_bot: BotFactory) -> None:
    errors: list[Exception] = []

    async def on_mention(ctx: tl.bots.Context) -> None:
        for kwargs in (
            {"context": ["not an entry"]},
            {"transcript": {"limit": 0}},
            {"transcript": "yes"},
            {"prompt": "   "},
            {"tools": [bot_tool]},  # the bot has it already
        ):
            with pytest.raises((tl.InvalidInputError, tl.ConfigurationError)) as caught:
                await ctx.thread.run_agent(**kwargs)
            errors.append(caught.value)

    running = await make_bot(tools=[bot_tool], on_mention=on_mention)
    await running.chat.say("ann", "go", mention=True)

    assert len(errors) == 5
    thread = await running.bot.conversation("memory", "general").thread()
    assert await thread.turns() == []
    with pytest.raises(tl.InvalidInputError):
        await running.bot.conversation("memory", "general").run_agent()  # no message, no prompt


async def test_the_transcript_bridge_brings_in_what_people_said_once(
    make_bot: BotFactory,
) -> None:
    async def on_mention(ctx: tl.bots.Context) -> None:
        await ctx.thread.run_agent(transcript=True)

    running = await make_bot(["Lunch at noon, then.", "Noon."], on_mention=on_mention)
    chat = running.chat
    await chat.say("bob", "lunch at noon?")
    await chat.say("carol", "works for me")
    await chat.say("ann", "@bot summarise", mention=True)
    await chat.say("dave", "I'm in too")
    await chat.say("ann", "@bot when?", mention=True)

    first, second = running.model.requests
    said = [
        (i.payload.sender, i.payload.content[0].text)  # type: ignore[union-attr]
        for i in second.items
        if isinstance(i.payload, UserMessage)
    ]
    assert said == [
        ("Bob", "Bob: lunch at noon?"),
        ("Carol", "Carol: works for me"),
        ("Ann", "Ann: @bot summarise"),
        ("Dave", "Dave: I'm in too"),  # once, although the platform returned all of it again
        ("Ann", "Ann: @bot when?"),
    ]
    agent_said = [i.payload.text for i in second.items if i.type == "agent_message"]  # type: ignore[union-attr]
    assert agent_said == ["Lunch at noon, then."]  # from the thread, not the platform's copy
    thread = await running.bot.conversation("memory", "general").thread()
    imports = [i for i in await thread.items() if isinstance(i.payload, SystemEvent)]
    assert len(imports) == 2  # one import per turn, each marked as brought in
    assert len([i for i in first.items if i.type == "user_message"]) == 3


async def test_the_transcript_limit_and_a_platform_without_history(make_bot: BotFactory) -> None:
    async def on_mention(ctx: tl.bots.Context) -> None:
        await ctx.thread.run_agent(transcript={"limit": 2})

    for capabilities, expected in (
        ({"history"}, ["Carol: two", "Ann: @bot go"]),
        (set(), ["Ann: @bot go"]),
    ):
        chat = MemoryChat(capabilities=capabilities)  # type: ignore[arg-type]
        running = await make_bot(["ok"], chat=chat, on_mention=on_mention)
        await chat.say("bob", "one", conversation=f"c{len(capabilities)}")
        await chat.say("carol", "two", conversation=f"c{len(capabilities)}")
        await chat.say("ann", "@bot go", mention=True, conversation=f"c{len(capabilities)}")
        (request,) = running.model.requests
        said: list[Any] = [
            i.payload.content[0].text  # type: ignore[union-attr]
            for i in request.items
            if isinstance(i.payload, UserMessage)
        ]
        assert said == expected
