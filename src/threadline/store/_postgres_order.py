"""A PostgreSQL store's turn writes, kept in submission order per thread and committed together
when they queue up: the way the SQLite store's single writer groups its commits.

A turn submits its next write without waiting for the previous one (see `ordered_writes`):
the writes of one thread then go out one transaction at a time, in order, and those that were
submitted while an earlier one was on its way share the next transaction. If a shared
transaction fails, each of its writes runs again alone, so that each gets its own outcome; a
write that expected what a failed one would have written is refused by its cursor check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg

from threadline.types import LeaseLost

from ._postgres_conn import Commit, Runner, is_transient
from ._postgres_run import FenceFailed, run_group, run_write
from ._postgres_sql import Connection
from ._sql import Dialect, OpFactory

_Pending = tuple[OpFactory[Any], "asyncio.Future[Any]"]


class OrderedWrites:
    def __init__(self, runner: Callable[[], Runner], dialect: Dialect) -> None:
        self._runner = runner
        self._dialect = dialect
        self._queues: dict[str, list[_Pending]] = {}

    async def submit(self, thread_id: str, op: OpFactory[Any]) -> Any:
        runner = self._runner()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(thread_id)
        if queue is None:
            queue = self._queues[thread_id] = []
            runner.track(asyncio.ensure_future(self._drain(runner, thread_id, queue)))
        queue.append((op, future))
        # The write commits even if the caller is cancelled, as every write of the store does.
        return await asyncio.shield(future)

    async def _drain(self, runner: Runner, thread_id: str, queue: list[_Pending]) -> None:
        try:
            await asyncio.sleep(0)  # writes submitted in the same turn of the loop go together
            while queue:
                group = queue[:]
                del queue[:]
                await self._commit(runner, group)
        finally:
            del self._queues[thread_id]

    async def _commit(self, runner: Runner, group: list[_Pending]) -> None:
        dialect = self._dialect
        if len(group) > 1:
            ops = [op for op, _ in group]

            async def together(conn: Connection, commit: Commit) -> list[Any] | None:
                try:
                    return await run_group(conn, dialect, ops, commit)
                except FenceFailed:
                    return None
                except psycopg.Error as exc:
                    if commit.sent and is_transient(exc):
                        raise  # the connection broke during COMMIT: nobody knows the outcome
                    return None  # the server refused it: nothing was applied
                except (Exception, LeaseLost):
                    if commit.sent:
                        raise
                    return None

            try:
                outcomes = await runner.write(together, replay_safe=False)
            except BaseException as exc:  # LeaseLost is not an Exception
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return
            if outcomes is not None:
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
                return
            # One of them was refused: each runs alone, to get its own outcome.
        for op, future in group:
            try:
                outcome = await runner.write(
                    lambda conn, commit, op=op: run_write(conn, dialect, op, commit),
                    replay_safe=False,
                )
            except BaseException as exc:  # LeaseLost is not an Exception
                if not future.done():
                    future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                if not future.done():
                    future.set_result(outcome)
