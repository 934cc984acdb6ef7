"""The IRC adapter against a real ngircd: the platform without edits, history, files, user
lookup or buttons, where the bot degrades on every count and still works."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from irc_server import IrcPerson, IrcServer

import threadline as tl
from threadline.testing import ScriptedModel, tool_call

LONG = " ".join(["All systems are nominal and every queue is drained."] * 12)  # 623 chars


async def test_the_bot_degrades_gracefully_on_irc(ngircd: IrcServer, tmp_path: Path) -> None:
    model = ScriptedModel(
        [
            "Paris is the capital of France.",
            tool_call("deploy", {"env": "prod"}),
            "Deployed to prod.",
            LONG,
            "Hello in private.",
        ]
    )
    log: list[str] = []
    bot_box: list[tl.Bot] = []

    @tl.tool(idempotent=True)
    async def deploy(env: str, thread: tl.ThreadState[Any]) -> str:
        """Deploy once a person agrees."""
        card = tl.bots.Card(
            f"Deploy to {env}?", tl.bots.Button("Deploy", "yes"), tl.bots.Button("Cancel", "no")
        )
        choice = await bot_box[0].thread(thread).await_choice(card)
        log.append(choice)
        return "deployed" if choice == "yes" else "cancelled"

    ann = IrcPerson("ann")
    irc = tl.bots.IRC(ngircd.host, ngircd.port, "helper", channels=["#ops"])
    agent = tl.Agent(name="ops", instructions="Be brief.")
    async with tl.Threadline(agents=[agent], store=tmp_path / "bot.db", model=model) as app:
        bot = tl.Bot(app, [irc], tools=[deploy], stream_interval=0)
        bot_box.append(bot)

        @bot.on_mention
        async def mention(ctx: tl.bots.Context) -> None:
            if ctx.message.text == "report":
                history = await ctx.thread.get_messages()
                upload = await ctx.thread.post_file(b"%PDF", "report.pdf")
                user = await ctx.thread.lookup_user("ann")
                await ctx.thread.post(f"history={history} upload={upload} user={user}")
                return
            await ctx.thread.run_agent(
                context=[tl.bots.ContextEntry("Requesting user", ctx.message.user.name)]
            )

        try:
            await asyncio.gather(ann.connect(ngircd, "#ops"), bot.start())
            assert irc.capabilities == frozenset()
            await ann.wait_for_join("helper")

            await ann.say("#ops", "helper: what is the capital of France?")
            # Streamed in words, shown as one post: no placeholder, no edits.
            assert await ann.hear(1) == [("helper", "#ops", "Paris is the capital of France.")]

            await ann.say("#ops", "helper, report")
            assert await ann.hear(1) == [
                (
                    "helper",
                    "#ops",
                    "history=[] upload={'ok': False, 'file_id': None, 'error': 'irc takes no "
                    "files'} user=None",
                )
            ]

            await ann.say("#ops", "deploy prod please, helper")
            assert [text for _, _, text in await ann.hear(2)] == [
                "Deploy to prod?",
                "[1] Deploy  [2] Cancel (reply with a number)",
            ]
            await ann.say("#ops", "1")
            assert [text for _, _, text in await ann.hear(2)] == [
                "ann chose Deploy.",
                "Deployed to prod.",
            ]
            assert log == ["yes"]

            await ann.say("#ops", "helper: status?")
            lines = [text for _, _, text in await ann.hear(2)]
            assert all(len(line.encode()) <= 400 for line in lines)
            assert " ".join(lines) == LONG  # cut between words into lines, nothing lost

            # The connection drops: the bot connects again and rejoins at once.
            irc._writer.transport.abort()  # type: ignore[union-attr]  # pyright: ignore[reportPrivateUsage]
            # (as `helper_` if the server still holds the old connection's nick)
            nick = await ann.wait_for_join("helper")
            assert irc.user_id == nick

            await ann.say(nick, "hi")  # a direct message is a conversation of its own
            assert await ann.hear(1) == [(nick, "ann", "Hello in private.")]
        finally:
            await bot.stop()
            await ann.close()

        model.assert_done()
        assert "Requesting user: ann" in (model.requests[0].instructions or "")
        channel = await bot.conversation("irc", "#ops").thread()
        private = await bot.conversation("irc", "ann").thread()
        assert channel.id != private.id
        assert len(await channel.turns()) == 3


def test_irc_settings_are_checked() -> None:
    for nick in ("", "two words", "9lives", "a\r\nQUIT"):
        with pytest.raises(tl.ConfigurationError):
            tl.bots.IRC("127.0.0.1", 6667, nick)
    with pytest.raises(tl.ConfigurationError):
        tl.bots.IRC("127.0.0.1", 6667, "helper", channels=["ops"])
    with pytest.raises(tl.ConfigurationError):
        tl.bots.IRC("127.0.0.1", 6667, "helper", password="a\r\nJOIN #x")
