"""Capability-gated operations delegate to the adapter where it has the capability and degrade
gracefully where it has not; posting takes text or a card."""

from __future__ import annotations

from typing import Any

import pytest
from bot_harness import BotFactory

import threadline as tl
from threadline.bots import Button, Card, Fields, Image, Markdown, MessageRef, Text, User
from threadline.testing import MemoryChat

EVERYTHING = {"edit", "delete", "buttons", "history", "files", "lookup_user", "markdown", "images"}


async def run_in_handler(
    make_bot: BotFactory, capabilities: set[str], body: Any, **chat_kwargs: Any
) -> tuple[MemoryChat, dict[str, Any]]:
    results: dict[str, Any] = {}

    async def on_mention(ctx: tl.bots.Context) -> None:
        await body(ctx, results)

    chat = MemoryChat(capabilities=capabilities, **chat_kwargs)  # type: ignore[arg-type]
    await make_bot(chat=chat, on_mention=on_mention)
    await chat.say("ann", "@bot go", mention=True)
    return chat, results


async def power(ctx: tl.bots.Context, results: dict[str, Any]) -> None:
    thread = ctx.thread
    results["messages"] = [(m.user.name, m.text) for m in await thread.get_messages()]
    results["found"] = await thread.lookup_user("carol")
    results["missing"] = await thread.lookup_user("nobody")
    results["file"] = await thread.post_file(b"%PDF-1.7", "report.pdf", title="Report")
    results["too big"] = await thread.post_file(b"x" * 100, "big.bin")
    ref = await thread.post("draft")
    results["updated"] = await thread.update(ref, "final")
    results["original"] = ref
    results["deleted"] = await thread.delete(await thread.post("oops"))


async def test_capabilities_delegate_to_the_platform(make_bot: BotFactory) -> None:
    chat, results = await run_in_handler(
        make_bot,
        EVERYTHING,
        power,
        users=[User(id="U3", name="carol")],
        max_file_bytes=50,
    )

    assert results["messages"] == [("Ann", "@bot go")]
    assert results["found"] == User(id="U3", name="carol") and results["missing"] is None
    (uploaded,) = chat.files
    assert results["file"] == {"ok": True, "file_id": uploaded.file_id, "error": None}
    assert (uploaded.filename, uploaded.data, uploaded.title) == (
        "report.pdf",
        b"%PDF-1.7",
        "Report",
    )
    assert results["too big"] == {
        "ok": False,
        "file_id": None,
        "error": "upload failed: ValueError",
    }
    assert results["updated"] == results["original"]  # edited in place
    assert [m.text for m in chat.messages()] == ["@bot go", "final"]
    assert results["deleted"] is True


async def test_without_the_capabilities_everything_degrades(make_bot: BotFactory) -> None:
    chat, results = await run_in_handler(
        make_bot, set(), power, users=[User(id="U3", name="carol")]
    )

    assert results["messages"] == []
    assert results["found"] is None and results["missing"] is None
    assert results["file"] == {"ok": False, "file_id": None, "error": "memory takes no files"}
    assert chat.files == []
    assert results["updated"] != results["original"]  # posted anew
    assert [m.text for m in chat.messages()] == ["@bot go", "draft", "final", "oops"]
    assert results["deleted"] is False


async def card_body(ctx: tl.bots.Context, results: dict[str, Any]) -> None:
    card = Card(
        Markdown("**Release** 2.1"),
        Fields({"Owner": "Ann", "Risk": "low"}),
        Image("https://example.org/graph.png", "error rate"),
        Button("Ship"),
    )
    results["ref"] = await ctx.thread.post(card)
    for bad in (42, [], Card(), [Button("   ")], Text("nul \x00")):
        with pytest.raises(tl.InvalidInputError):
            await ctx.thread.post(bad)  # type: ignore[arg-type]
    foreign = MessageRef(platform="memory", conversation="other", message_id="m1")
    with pytest.raises(tl.InvalidInputError):
        await ctx.thread.update(foreign, "hijack")
    with pytest.raises(tl.InvalidInputError):
        await ctx.thread.delete(foreign)
    with pytest.raises(tl.InvalidInputError):
        await ctx.thread.get_messages(limit=0)
    with pytest.raises(tl.InvalidInputError):
        await ctx.thread.post_file("not bytes", "a.txt")  # type: ignore[arg-type]


async def test_cards_render_per_platform(make_bot: BotFactory) -> None:
    rich, _ = await run_in_handler(make_bot, {"buttons", "markdown", "images"}, card_body)
    assert rich.last().text == (
        "**Release** 2.1\n**Owner**: Ann\n**Risk**: low\n![error rate](https://example.org/graph.png)"
    )
    assert rich.last().buttons == ["Ship"]

    plain, _ = await run_in_handler(make_bot, set(), card_body)
    assert plain.last().text == (
        "Release 2.1\nOwner: Ann\nRisk: low\nerror rate (https://example.org/graph.png)\n"
        "[1] Ship (reply with a number)"
    )
    assert [m.text for m in plain.messages()] == [
        "@bot go",
        plain.last().text,
    ]  # bad input: nothing


async def test_a_long_post_is_split_and_the_buttons_go_last(make_bot: BotFactory) -> None:
    async def body(ctx: tl.bots.Context, results: dict[str, Any]) -> None:
        text = "\n\n".join(f"Paragraph {i} " + "x" * 30 for i in range(4))
        results["ref"] = await ctx.thread.post(Card(Markdown(text), Button("OK")))

    chat, results = await run_in_handler(make_bot, {"buttons"}, body, max_message_length=60)

    posted = chat.posted()
    assert [m.text for m in posted] == [f"Paragraph {i} " + "x" * 30 for i in range(4)]
    assert [m.buttons for m in posted] == [[], [], [], ["OK"]]
    assert results["ref"] == posted[-1].ref
