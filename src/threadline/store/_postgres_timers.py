"""Timers on PostgreSQL: cancelled by id, fired by whichever process claims them first."""

from __future__ import annotations

import time

from threadline.types import (
    InboxEntry,
    TimerRecord,
)

from . import _codec as codec
from ._postgres_ops import enqueue
from ._postgres_sql import (
    NOW,
    Connection,
    Tables,
    execute,
    fetchall,
)


async def cancel_timer(conn: Connection, t: Tables, thread_id: str, timer_id: str) -> bool:
    return (
        await execute(
            conn,
            f"UPDATE {t.timers} SET status = 'cancelled' WHERE thread_id = %s AND timer_id = %s "
            "AND status = 'pending'",
            (thread_id, timer_id),
        )
        > 0
    )


async def fire_due_timers(conn: Connection, t: Tables, limit: int) -> list[TimerRecord]:
    # Each timer fires exactly once: claiming skips timers another transaction holds, and
    # marking one fired and enqueueing its effect commit together.
    rows = await fetchall(
        conn,
        f"SELECT {codec.TIMER_COLUMNS} FROM {t.timers} WHERE status = 'pending' AND "
        f"due_at <= {NOW} ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED",
        (limit,),
    )
    timers = [codec.timer_from_row(row) for row in rows]
    # Enqueueing locks each thread row; taking them all first, in one order, keeps two
    # processes firing timers of the same threads from deadlocking.
    # A thread that is gone or archived takes no input: its timers lapse.
    open_threads = {
        r[0]
        for r in await fetchall(
            conn,
            f"SELECT thread_id, status FROM {t.threads} WHERE thread_id = ANY(%s) "
            "ORDER BY thread_id FOR UPDATE",
            (sorted({timer.thread_id for timer in timers}),),
        )
        if r[1] != "archived"
    }
    fired: list[TimerRecord] = []
    now = time.time()
    for timer in timers:
        lapsed = timer.thread_id not in open_threads
        await execute(
            conn,
            f"UPDATE {t.timers} SET status = %s, fired_at = %s WHERE timer_id = %s",
            ("cancelled" if lapsed else "fired", now, timer.timer_id),
        )
        if lapsed:
            continue
        await enqueue(
            conn,
            t,
            InboxEntry(
                entry_id=timer.timer_id.replace("timer_", "inbox_", 1),
                thread_id=timer.thread_id,
                position=0,
                input=timer.input,
                kind=timer.kind,
                created_at=now,
            ),
        )
        fired.append(timer)
    return fired
