"""Per-conversation state, validated before anything is written, and subscriptions that route
every message of a conversation to `on_subscribed_message`; both stored, so both survive a
restart of the bot."""

from __future__ import annotations

from typing import Any

import pytest
from bot_harness import BotFactory
from pydantic import BaseModel

import threadline as tl
from threadline.testing import MemoryChat, tool_call


class Workflow(BaseModel):
    stage: str
    approvals: int = 0


async def stored_state(running: Any, conversation: str = "general") -> Any:
    thread = await running.bot.conversation("memory", conversation).thread()
    return (await thread.reload()).state


async def test_state_is_validated_before_anything_is_written(make_bot: BotFactory) -> None:
    seen: list[Any] = []
    errors: list[Exception] = []

    async def on_mention(ctx: tl.bots.Context) -> None:
        seen.append(await ctx.thread.state())
        await ctx.thread.set_state(Workflow(stage="draft"))
        for bad in ({"stage": 3}, {"approvals": 1}, "draft"):
            try:
                await ctx.thread.set_state(bad)
            except tl.InvalidInputError as exc:
                errors.append(exc)
        seen.append(await ctx.thread.state())

    running = await make_bot(state_type=Workflow, on_mention=on_mention)
    await running.chat.say("ann", "start", mention=True)

    assert seen == [None, Workflow(stage="draft")]
    assert len(errors) == 3
    assert await stored_state(running) == {"stage": "draft", "approvals": 0}


async def test_tools_share_the_conversation_state(make_bot: BotFactory) -> None:
    @tl.tool
    async def approve(thread: tl.ThreadState[Workflow]) -> str:
        """Count an approval."""
        state = thread.state
        thread.set_state(state.model_copy(update={"approvals": state.approvals + 1}))
        return "counted"

    async def on_mention(ctx: tl.bots.Context) -> None:
        if await ctx.thread.state() is None:
            await ctx.thread.set_state({"stage": "review"})
        await ctx.thread.run_agent()

    running = await make_bot(
        [tool_call("approve"), "Counted."],
        tools=[approve],
        state_type=Workflow,
        on_mention=on_mention,
    )
    await running.chat.say("ann", "approve it", mention=True)

    assert await stored_state(running) == {"stage": "review", "approvals": 1}


async def test_without_a_state_type_state_is_a_json_dict(make_bot: BotFactory) -> None:
    errors: list[Exception] = []

    async def on_mention(ctx: tl.bots.Context) -> None:
        await ctx.thread.set_state({"count": 1})
        for bad in ([1, 2], {"when": object()}):
            with pytest.raises(tl.InvalidInputError) as caught:
                await ctx.thread.set_state(bad)
            errors.append(caught.value)
        assert await ctx.thread.state() == {"count": 1}

    running = await make_bot(on_mention=on_mention)
    await running.chat.say("ann", "count", mention=True)

    assert len(errors) == 2 and await stored_state(running) == {"count": 1}


async def test_subscribed_conversations_route_every_message(make_bot: BotFactory) -> None:
    heard: list[tuple[str, bool]] = []

    async def on_mention(ctx: tl.bots.Context) -> None:
        heard.append(("mention", ctx.message.mentioned))
        assert not await ctx.thread.is_subscribed()
        await ctx.thread.subscribe()
        assert await ctx.thread.is_subscribed()

    running = await make_bot(on_mention=on_mention)

    @running.bot.on_subscribed_message
    async def subscribed(ctx: tl.bots.Context) -> None:
        heard.append((ctx.message.text, ctx.message.mentioned))
        if ctx.message.text == "stop":
            await ctx.thread.unsubscribe()

    chat = running.chat
    await chat.say("ann", "chatter before")  # not a mention, not subscribed: nobody hears it
    await chat.say("ann", "@bot follow this thread", mention=True)
    await chat.say("bob", "any message now")
    await chat.say("ann", "@bot even mentions", mention=True)
    await chat.say("bob", "hello", conversation="elsewhere")  # another conversation
    await chat.say("ann", "stop")
    await chat.say("ann", "after stop")

    assert heard == [
        ("mention", True),
        ("any message now", False),
        ("@bot even mentions", True),
        ("stop", False),
    ]


async def test_subscriptions_and_state_survive_a_restart(make_bot: BotFactory) -> None:
    async def on_mention(ctx: tl.bots.Context) -> None:
        await ctx.thread.subscribe()
        await ctx.thread.set_state(Workflow(stage="live"))

    chat = MemoryChat()
    first = await make_bot(chat=chat, state_type=Workflow, on_mention=on_mention)
    await chat.say("ann", "@bot watch", mention=True)

    heard: list[Any] = []
    second = await make_bot(chat=chat, state_type=Workflow)  # a new app and bot, same store

    @second.bot.on_subscribed_message
    async def subscribed(ctx: tl.bots.Context) -> None:
        heard.append((ctx.message.text, await ctx.thread.state()))

    await chat.say("ann", "still there?")

    assert heard == [("still there?", Workflow(stage="live"))]
    assert first.bot is not second.bot
