"""A tool asks people through the bot (`await_choice`): buttons where the platform has them,
reactions or numbered replies where it has not. The turn waits durably; the card then says who
chose what; a stale or second answer, or one from someone who may not answer, does nothing."""

from __future__ import annotations

from typing import Any

import pytest
from bot_harness import BotFactory, BotRef, deploy_tool

import threadline as tl
from threadline.testing import tool_call
from threadline.types import ToolCall, ToolResult

STEPS = [tool_call("deploy", {"env": "prod"}), "Deployed to prod."]


async def tool_outputs(running: Any) -> list[str]:
    thread = await running.bot.conversation("memory", "general").thread()
    return [i.payload.output for i in await thread.items() if isinstance(i.payload, ToolResult)]


async def test_a_button_click_answers_the_choice_and_the_card_says_who_chose(
    make_bot: BotFactory,
) -> None:
    ref, log = BotRef(), []
    running = await make_bot(
        STEPS, capabilities={"edit", "buttons", "delete"}, tools=[deploy_tool(ref, log)], ref=ref
    )
    chat = running.chat

    await chat.say("ann", "deploy prod", mention=True)

    card = chat.last()
    assert card.text == "Deploy to prod?" and card.buttons == ["Deploy", "Cancel"]
    thread = await running.bot.conversation("memory", "general").thread()
    assert (await thread.reload()).status == "awaiting_input"

    await chat.click(card, "Deploy", user="bob")

    assert card.buttons == []  # edited in place, its buttons gone
    assert card.text == "Deploy to prod?\nBob chose Deploy."
    assert chat.last().text == "Deployed to prod."
    assert log == ["asked prod", "chose yes"]  # the tool continued; it did not run twice
    assert await tool_outputs(running) == ["deployed"]

    await chat.click(card, "Cancel", user="bob")  # a stale, second click

    assert card.text == "Deploy to prod?\nBob chose Deploy."
    assert len(chat.messages()) == 3
    running.model.assert_done()


async def posted_in_turn(running: Any) -> str:
    """`TURN_ID:TOOL_CALL_ID` of the conversation's latest turn and its latest tool call."""
    thread = await running.bot.conversation("memory", "general").thread()
    turn = (await thread.turns())[-1]
    (call, *_) = [
        i.payload for i in reversed(await thread.items()) if isinstance(i.payload, ToolCall)
    ]
    return f"{turn.turn_id}:{call.tool_call_id}"


async def test_a_card_is_posted_once_under_a_key_naming_its_turn_and_call(
    make_bot: BotFactory,
) -> None:
    """A tool run again after a crash (it was cut off between posting its card and pausing)
    posts its card under the same key: a platform that keeps sends idempotent (Matrix, and
    MemoryChat) shows the first card again, not a second one."""
    ref, log = BotRef(), []
    running = await make_bot(
        STEPS, capabilities={"edit", "buttons"}, tools=[deploy_tool(ref, log)], ref=ref
    )
    chat = running.chat
    await chat.say("ann", "deploy prod", mention=True)
    card = chat.last()

    assert card.key == f"choice:{await posted_in_turn(running)}:0"
    again = await chat.post_once("general", card.card, card.key, actions=[])
    assert again == card.ref
    assert len(chat.messages()) == 2


async def test_only_approvers_answer(make_bot: BotFactory) -> None:
    ref, log = BotRef(), []
    running = await make_bot(
        STEPS,
        capabilities={"edit", "buttons"},
        tools=[deploy_tool(ref, log, approvers=["carol"])],
        ref=ref,
    )
    chat = running.chat
    await chat.say("ann", "deploy prod", mention=True)
    card = chat.last()

    await chat.click(card, "Deploy", user="ann")

    assert card.buttons == ["Deploy", "Cancel"] and log == ["asked prod"]

    await chat.click(card, "Cancel", user="carol")

    assert card.text.endswith("Carol chose Cancel.")
    assert await tool_outputs(running) == ["cancelled"]


async def test_reactions_stand_in_for_buttons(make_bot: BotFactory) -> None:
    ref, log = BotRef(), []
    running = await make_bot(
        STEPS,
        capabilities={"edit", "reactions", "markdown"},
        tools=[deploy_tool(ref, log)],
        ref=ref,
    )
    chat = running.chat
    await chat.say("ann", "deploy prod", mention=True)
    card = chat.last()

    assert card.text == "Deploy to **prod**?\n1️⃣ Deploy  2️⃣ Cancel (react or reply with a number)"
    assert card.reactions == {"1️⃣": ["bot"], "2️⃣": ["bot"]}  # ready to click

    await chat.react(card, "👍", user="ann")  # not an option: nothing happens
    assert log == ["asked prod"]
    await chat.react(card, "2️⃣", user="ann")

    assert card.text.endswith("Ann chose Cancel.")
    assert "1️⃣" not in card.text
    assert await tool_outputs(running) == ["cancelled"]


async def test_numbered_replies_where_there_are_no_buttons_nor_reactions(
    make_bot: BotFactory,
) -> None:
    ref, log = BotRef(), []
    running = await make_bot(STEPS, capabilities=set(), tools=[deploy_tool(ref, log)], ref=ref)
    chat = running.chat
    await chat.say("ann", "deploy prod", mention=True)

    assert chat.last().text == "Deploy to prod?\n[1] Deploy  [2] Cancel (reply with a number)"

    await chat.say("ann", "7")  # no such option: an ordinary message, not a mention
    assert log == ["asked prod"]
    await chat.say("ann", "1")

    texts = [m.text for m in chat.messages()]
    assert texts[-2:] == ["Ann chose Deploy.", "Deployed to prod."]  # no edits: a new post
    assert log == ["asked prod", "chose yes"]


async def test_a_run_while_a_choice_waits_is_refused_and_changes_nothing(
    make_bot: BotFactory,
) -> None:
    ref, log = BotRef(), []
    refused: list[Exception] = []

    async def on_mention(ctx: tl.bots.Context) -> None:
        try:
            await ctx.thread.run_agent()
        except tl.TurnInProgressError as exc:
            refused.append(exc)

    running = await make_bot(
        STEPS,
        capabilities={"buttons"},
        tools=[deploy_tool(ref, log)],
        ref=ref,
        on_mention=on_mention,
    )
    await running.chat.say("ann", "deploy prod", mention=True)

    await running.chat.say("ann", "and staging?", mention=True)

    assert len(refused) == 1
    await running.chat.click(running.chat.last(), "Deploy")
    assert running.chat.last().text == "Deployed to prod."


async def test_resume_answers_from_code(make_bot: BotFactory) -> None:
    ref, log = BotRef(), []
    running = await make_bot(
        STEPS, capabilities={"edit", "buttons"}, tools=[deploy_tool(ref, log)], ref=ref
    )
    await running.chat.say("ann", "deploy prod", mention=True)
    conversation = running.bot.conversation("memory", "general")

    with pytest.raises(tl.InvalidInputError):
        await conversation.resume("maybe")
    last = await conversation.resume("Deploy")

    assert last is not None and running.chat.last().ref == last
    assert log == ["asked prod", "chose yes"]


async def test_await_choice_needs_buttons_and_a_tool(make_bot: BotFactory) -> None:
    errors: list[Exception] = []

    @tl.tool
    async def ask(thread: tl.ThreadState[Any]) -> str:
        """Ask badly."""
        for bad in ("Just text", tl.bots.Card(*(tl.bots.Button(str(i)) for i in range(11)))):
            try:
                await ref.thread(thread).await_choice(bad)
            except tl.InvalidInputError as exc:
                errors.append(exc)
        return "asked"

    async def on_mention(ctx: tl.bots.Context) -> None:
        try:
            await ctx.thread.await_choice(tl.bots.Card("?", tl.bots.Button("Yes")))
        except tl.ConfigurationError as exc:
            errors.append(exc)
        await ctx.thread.run_agent()

    ref = BotRef()
    running = await make_bot(
        [tool_call("ask"), "Done."], tools=[ask], ref=ref, on_mention=on_mention
    )
    await running.chat.say("ann", "ask", mention=True)

    assert [type(e).__name__ for e in errors] == [
        "ConfigurationError",
        "InvalidInputError",
        "InvalidInputError",
    ]
    assert [m.text for m in running.chat.messages()][1:] == ["Done."]


async def test_tool_calls_that_need_approval_get_an_approval_card(make_bot: BotFactory) -> None:
    sent: list[int] = []

    @tl.tool(needs_approval=True)
    async def pay(amount: int) -> str:
        """Pay someone."""
        sent.append(amount)
        return f"paid {amount}"

    running = await make_bot(
        [tool_call("pay", {"amount": 5}), "Paid.", tool_call("pay", {"amount": 500}), "Not paid."],
        capabilities={"edit", "buttons"},
        tools=[pay],
        approvers=["carol"],
    )
    chat = running.chat
    await chat.say("ann", "pay 5", mention=True)
    card = chat.last()
    assert card.text == 'Approve pay?\n{"amount":5}'
    assert card.buttons == ["Approve", "Deny"]
    assert card.key == f"approval:{await posted_in_turn(running)}:0"  # posted once: see below

    await chat.click(card, "Approve", user="ann")  # not an approver
    assert sent == []
    await chat.click(card, "Approve", user="carol")

    assert card.text.endswith("Carol chose Approve.") and card.buttons == []
    assert sent == [5] and chat.last().text == "Paid."

    await chat.say("ann", "pay 500", mention=True)
    await chat.say("carol", "2")  # a numbered reply works on every platform

    assert sent == [5] and chat.last().text == "Not paid."
    assert chat.messages()[-3].text.endswith("Carol chose Deny.")
