"""Processes for the race tests: `python driver.py STORE claim` recovers once and prints how
many turns it continued; `python driver.py STORE submit THREAD PREFIX N` queues N inputs."""

from __future__ import annotations

import asyncio
import sys

from worker_app import agents, model

import threadline as tl


async def claim(store: str) -> None:
    async with tl.Threadline(agents=agents, store=store, model=model()) as app:
        report = await app.recover()
        await report.wait()
        print(len(report.continued), flush=True)


async def submit(store: str, thread_id: str, prefix: str, count: int) -> None:
    async with tl.Threadline(agents=agents, store=store, run_turns=False) as app:
        thread = await app.threads.resume(thread_id)
        for n in range(count):
            await thread.enqueue(f"{prefix} {n}", client_key=f"{prefix}-{n}")
            await thread.enqueue(f"{prefix} {n}", client_key=f"{prefix}-{n}")  # a retry


if __name__ == "__main__":
    store_spec, mode, *rest = sys.argv[1:]
    if mode == "claim":
        asyncio.run(claim(store_spec))
    else:
        asyncio.run(submit(store_spec, rest[0], rest[1], int(rest[2])))
