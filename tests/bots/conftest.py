"""Bots on a real SQLite store, a scripted model and `MemoryChat`."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

import pytest
from bot_harness import BotFactory, BotRef, Running
from irc_server import IrcServer, ngircd_binary, start_ngircd

import threadline as tl
from threadline.testing import MemoryChat, ScriptedModel, check_invariants


@pytest.fixture
async def make_bot(make_store: Callable[[], tl.Store]) -> AsyncIterator[BotFactory]:
    """`await make_bot(steps, capabilities=..., tools=..., agent_tools=..., **bot_kwargs)`:
    an open app on the test's store (SQLite, then PostgreSQL) and a started bot whose mentions run the agent
    (unless `on_mention` is given). Call it again for a "restarted" bot on the same store
    (`chat=` keeps the platform). Everything is closed afterwards and the store's
    invariants are checked."""
    running: list[Running] = []

    async def factory(
        steps: Sequence[Any] = (),
        *,
        capabilities: Iterable[str] | None = None,
        chat: MemoryChat | None = None,
        tools: Sequence[Any] = (),
        agent_tools: Sequence[Any] = (),
        on_mention: Callable[[tl.bots.Context], Any] | None = None,
        state_type: Any = None,
        ref: BotRef | None = None,
        **bot_kwargs: Any,
    ) -> Running:
        for previous in running:
            await previous.bot.stop()
            await previous.app.close()
        model = ScriptedModel(list(steps))
        agent = tl.Agent(name="helper", instructions="Be brief.", tools=agent_tools)
        app = tl.Threadline(agents=[agent], store=make_store(), model=model)
        await app.open()
        chat = chat or MemoryChat(capabilities=capabilities)  # type: ignore[arg-type]
        bot_kwargs.setdefault("stream_interval", 0)
        bot = tl.Bot(app, [chat], tools=tools, state_type=state_type, **bot_kwargs)
        current = Running(app=app, bot=bot, chat=chat, model=model)
        if ref is not None:
            ref.bot = bot

        async def default_mention(ctx: tl.bots.Context) -> None:
            current.mentions.append(ctx)
            await ctx.thread.run_agent()

        bot.on_mention(on_mention or default_mention)
        await bot.start()
        running.append(current)
        return current

    yield factory
    for current in running:
        await current.bot.stop()
        await current.app.close()
    if running:
        async with make_store() as store:  # type: ignore[attr-defined]
            assert await check_invariants(store) == []


@pytest.fixture(scope="module")
def ngircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    """A real ngircd on 127.0.0.1 (fetched from Debian's packages on first use)."""
    found = ngircd_binary()
    if isinstance(found, str):
        pytest.skip(found)
    binary, env = found
    server = start_ngircd(binary, env, tmp_path_factory.mktemp("ngircd"))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((server.host, server.port), timeout=1).close()
                break
            except OSError:
                if server.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)  # the server is starting: poll its port
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)
