"""A conversation is a durable thread: a retried event never runs a turn twice nor shows its
answer twice, and a restarted bot continues its conversations, a choice that waits included."""

from __future__ import annotations

import contextlib
from typing import Any

from bot_harness import BotFactory, BotRef, deploy_tool

import threadline as tl
from threadline.bots import Card, MessageRef
from threadline.testing import MemoryChat, tool_call
from threadline.types import ToolResult, UserMessage


async def conversation_thread(running: Any) -> tl.Thread:
    return await running.bot.conversation("memory", "general").thread()


async def test_a_retried_event_runs_one_turn_and_shows_one_answer(make_bot: BotFactory) -> None:
    running = await make_bot(["Hello Ann."], capabilities={"edit"})
    chat = running.chat

    message = await chat.say("ann", "@bot hi", mention=True)
    await chat.deliver(message)  # the platform delivers the same event again

    thread = await conversation_thread(running)
    (turn,) = await thread.turns()
    assert turn.client_key == message.event_id
    assert [m.text for m in chat.messages()] == ["@bot hi", "Hello Ann."]


class FlakyChat(MemoryChat):
    """A platform whose edits fail for a while, as a bot process dying mid-answer would
    leave things: a placeholder posted, the answer never shown."""

    failing_edits = 0

    async def update(self, ref: MessageRef, card: Card, *, actions: Any = ()) -> MessageRef:
        if self.failing_edits:
            self.failing_edits -= 1
            raise ConnectionError("the platform went away")
        return await super().update(ref, card, actions=actions)


async def test_a_retried_event_shows_an_answer_that_was_cut_off_once(make_bot: BotFactory) -> None:
    chat = FlakyChat(capabilities={"edit", "delete"})
    chat.failing_edits = 1
    running = await make_bot(["The answer is 42."], chat=chat)

    with contextlib.suppress(ConnectionError):
        await chat.say("ann", "@bot question", mention=True, event_id="ev-1")
    (placeholder,) = chat.posted()
    assert placeholder.text == "…"

    retried = await make_bot([], chat=chat)  # restarted; the platform retries the event
    await chat.deliver(
        tl.bots.Message(
            event_id="ev-1",
            message_id="m1",
            conversation="general",
            user=chat.users["ann"],
            text="@bot question",
            mentioned=True,
        )
    )
    await chat.deliver(retried.mentions[0].message)  # and once more: nothing new

    assert [m.text for m in chat.posted()] == ["The answer is 42."]  # the placeholder, edited
    (turn,) = await (await conversation_thread(retried)).turns()
    assert turn.status == "completed"
    running.model.assert_done()


async def test_a_restarted_bot_continues_the_conversation(make_bot: BotFactory) -> None:
    chat = MemoryChat(capabilities={"edit"})
    await make_bot(["Noted: blue."], chat=chat)
    await chat.say("ann", "@bot my colour is blue", mention=True)

    second = await make_bot(["Blue."], chat=chat)
    await chat.say("ann", "@bot what is my colour?", mention=True)

    request = second.model.requests[0]
    said = [i.payload for i in request.items if isinstance(i.payload, UserMessage)]
    assert [p.content[0].text for p in said] == [
        "@bot my colour is blue",
        "@bot what is my colour?",
    ]  # type: ignore[union-attr]
    assert chat.last().text == "Blue."


async def test_a_choice_that_waits_survives_a_restart(make_bot: BotFactory) -> None:
    chat = MemoryChat(capabilities={"edit", "buttons"})
    log: list[str] = []
    first_ref = BotRef()
    await make_bot(
        [tool_call("deploy", {"env": "prod"})],
        chat=chat,
        tools=[deploy_tool(first_ref, log)],
        ref=first_ref,
    )
    await chat.say("ann", "@bot deploy prod", mention=True)
    card = chat.last()

    second_ref = BotRef()
    second = await make_bot(
        ["Deployed to prod."], chat=chat, tools=[deploy_tool(second_ref, log)], ref=second_ref
    )
    await chat.click(card, "Deploy", user="bob")

    assert card.text == "Deploy to prod?\nBob chose Deploy."
    assert [m.text for m in chat.posted()] == [card.text, "Deployed to prod."]  # no second card
    assert log == ["asked prod", "asked prod", "chose yes"]  # idempotent: run again, answered
    outputs = [
        i.payload.output
        for i in await (await conversation_thread(second)).items()
        if isinstance(i.payload, ToolResult)
    ]
    assert outputs == ["deployed"]
    second.model.assert_done()
