"""A bot on Matrix as a process of its own, for the test that kills it mid-answer:
`python matrix_bot_process.py HOMESERVER USER_ID DATABASE SYNC_FILE PACE [continue]`, with the
access token in `MATRIX_TOKEN`. Its model streams the answer a word every PACE seconds. With
`continue`, it first waits until it continues the turn a killed process left, so that the
event it receives again finds that turn running. It prints `ready` once it receives events,
and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import threadline as tl
from threadline.testing import ScriptedModel, Step, eventually

ANSWER = "The deploy window opens at noon on Thursday, after the freeze."


async def main(
    homeserver: str, user_id: str, database: str, sync_file: str, pace: str, *rest: str
) -> None:
    model = ScriptedModel([Step(text=ANSWER, delta_delay=float(pace))])
    agent = tl.Agent(name="helper", instructions="Be brief.")
    continuing = rest == ("continue",)
    # A short lease and frequent recovery: a turn whose process died continues here soon.
    # (With `continue`, recovery is run below instead, to know when it continued the turn.)
    app = tl.Threadline(
        agents=[agent],
        store=database,
        model=model,
        lease_seconds=1.0,
        recovery_interval=None if continuing else 0.2,
    )
    matrix = tl.bots.Matrix(
        homeserver, user_id, os.environ["MATRIX_TOKEN"], sync_token_path=sync_file
    )
    bot = tl.Bot(app, [matrix], stream_interval=0)

    @bot.on_mention
    async def mention(ctx: tl.bots.Context) -> None:
        await ctx.thread.run_agent()

    if continuing:
        await app.open()
        await eventually(lambda: _continued(app), within=20)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await bot.start()
    print("ready", flush=True)
    try:
        await stopping.wait()
    finally:
        await bot.stop()
        await app.close()


async def _continued(app: tl.Threadline) -> bool:
    return bool((await app.recover()).continued)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
