"""Building a bot: what it refuses, what handlers receive, and how a card falls back to text."""

from __future__ import annotations

from typing import Any

import pytest
from bot_harness import BotFactory

import threadline as tl
from threadline.bots import Button, Card, Markdown, Text
from threadline.bots._ui import markdown_to_plain, split_text
from threadline.testing import MemoryChat, ScriptedModel


async def test_a_bot_refuses_a_wrong_setup() -> None:
    agent = tl.Agent(name="helper")
    async with tl.Threadline(agents=[agent], store=":memory:", model=ScriptedModel([])) as app:
        chat = MemoryChat()
        for kwargs in (
            {"adapters": []},
            {"adapters": [chat, MemoryChat()]},  # two of one platform
            {"adapters": [chat], "agent": "nobody"},
            {"adapters": [chat], "state_type": dict},
            {"adapters": [chat], "stream_interval": -1},
        ):
            with pytest.raises(tl.ConfigurationError):
                tl.Bot(app, **kwargs)
        bot = tl.Bot(app, [chat])
        with pytest.raises(tl.ConfigurationError):
            tl.Bot(app, [MemoryChat()])  # the same name twice on one app

        def not_async(ctx: tl.bots.Context) -> None: ...

        with pytest.raises(tl.ConfigurationError):
            bot.on_mention(not_async)  # type: ignore[arg-type]
        with pytest.raises(tl.NotFoundError):
            bot.conversation("slack", "C1")
        with pytest.raises(tl.InvalidInputError):
            MemoryChat(capabilities={"telepathy"})  # type: ignore[arg-type]


async def test_a_handler_error_reaches_the_test_and_the_log(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def on_mention(ctx: tl.bots.Context) -> None:
        raise RuntimeError("secret-token-123 in a message")

    running = await make_bot(on_mention=on_mention)

    with pytest.raises(RuntimeError):
        await running.chat.say("ann", "boom", mention=True)

    assert "could not be handled: RuntimeError" in caplog.text
    assert "secret-token-123" not in caplog.text


async def test_buttons_a_handler_posts_reach_on_action(make_bot: BotFactory) -> None:
    clicks: list[tuple[str | None, str]] = []

    async def on_mention(ctx: tl.bots.Context) -> None:
        await ctx.thread.post(Card("Rate this answer", Button("👍", "good"), Button("👎", "bad")))

    running = await make_bot(capabilities={"buttons"}, on_mention=on_mention)

    @running.bot.on_action
    async def clicked(ctx: tl.bots.Context) -> None:
        clicks.append((ctx.value, ctx.message.user.name))
        await ctx.thread.post(f"Thanks, {ctx.message.user.name}.")

    await running.chat.say("ann", "answer me", mention=True)
    await running.chat.click(running.chat.last(), "👎", user="bob")

    assert clicks == [("bad", "Bob")]
    assert running.chat.last().text == "Thanks, Bob."


async def test_a_tool_outside_the_bots_conversations_gets_no_chat_thread(
    make_bot: BotFactory,
) -> None:
    running = await make_bot()
    state: tl.ThreadState[Any] = tl.ThreadState(
        thread_id="thr_x",
        turn_id="turn_x",
        tool_call_id="c",
        user_id=None,
        items=[],
        state=None,
        state_type=None,
    )
    with pytest.raises(tl.ConfigurationError):
        running.bot.thread(state)


def test_text_is_split_at_the_best_boundary() -> None:
    assert split_text("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert split_text("one\ntwo three", 9) == ["one", "two three"]
    assert split_text("para one.\n\npara two", 15) == ["para one.", "para two"]
    assert split_text("x" * 10, 4) == ["xxxx", "xxxx", "xx"]


def test_markdown_falls_back_to_readable_text() -> None:
    assert markdown_to_plain("**bold** and _it_ and `code`") == "bold and it and code"
    assert (
        markdown_to_plain("# Title\nsee [docs](https://x.org)") == "Title\nsee docs (https://x.org)"
    )
    assert Card(Markdown("**a**"), Text("*b*")).plain_text() == "a\n*b*"
