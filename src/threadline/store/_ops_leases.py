"""Leases on a thread's active turn: who runs it, until when, and how it is handed on
(see `_sql`). Each change is one conditional UPDATE: racing callers queue on the row lock and
each re-checks the condition against the winner's row, so exactly one of them wins."""

from __future__ import annotations

import time
from collections.abc import Sequence

from . import _codec as codec
from ._ops_threads import status_unless_terminated
from ._sql import Notify, Op, count, marks, one, rows, run
from ._writes import Lease, Renewal, ThreadCursor

_ACTIVE = status_unless_terminated("active")


def acquire_lease(
    thread_id: str, turn_id: str, owner: str, lease_seconds: float
) -> Op[Lease | None]:
    codec.check_text(owner=owner)
    row = yield one(
        "UPDATE {threads} SET lease_owner = ?, lease_epoch = lease_epoch + 1, "
        f"lease_expires_at = {{now}} + ?, status = {_ACTIVE}, wake_at = NULL "
        "WHERE thread_id = ? AND active_turn_id = ? AND "
        "(lease_owner IS NULL OR lease_expires_at <= {now}) "
        "RETURNING lease_epoch, last_item_seq, last_event_seq",
        owner,
        lease_seconds,
        thread_id,
        turn_id,
    )
    if row is None:
        return None
    yield run(
        "UPDATE {turns} SET status = 'running', updated_at = ? WHERE turn_id = ?",
        time.time(),
        codec.turn_key(turn_id),
    )
    return Lease(
        thread_id=thread_id,
        turn_id=turn_id,
        owner=owner,
        epoch=row[0],
        cursor=ThreadCursor(last_item_seq=row[1], last_event_seq=row[2]),
    )


def claim_turns(
    owner: str, lease_seconds: float, limit: int, skip: Sequence[str]
) -> Op[list[Lease]]:
    codec.check_text(owner=owner)
    skipping = f"AND thread_id NOT IN ({marks(len(skip))}) " if skip else ""
    claimed = yield rows(
        "UPDATE {threads} SET lease_owner = ?, lease_epoch = lease_epoch + 1, "
        f"lease_expires_at = {{now}} + ?, status = {_ACTIVE}, wake_at = NULL "
        "WHERE thread_id IN (SELECT thread_id FROM {threads} WHERE active_turn_id IS NOT NULL "
        f"{skipping}AND ((lease_owner IS NOT NULL AND lease_expires_at <= {{now}}) OR "
        "(lease_owner IS NULL AND wake_at <= {now})) ORDER BY COALESCE(lease_expires_at, wake_at) LIMIT ? "
        "{skip_locked}) RETURNING thread_id, active_turn_id, lease_epoch, last_item_seq, "
        "last_event_seq",
        owner,
        lease_seconds,
        *skip,
        limit,
    )
    if not claimed:
        return []
    turn_ids = [row[1] for row in claimed]
    yield run(
        f"UPDATE {{turns}} SET status = 'running', updated_at = ? WHERE turn_id IN "
        f"({marks(len(turn_ids))})",
        time.time(),
        *(codec.turn_key(turn_id) for turn_id in turn_ids),
    )
    return [
        Lease(
            thread_id=thread_id,
            turn_id=turn_id,
            owner=owner,
            epoch=epoch,
            cursor=ThreadCursor(last_item_seq=last_item_seq, last_event_seq=last_event_seq),
        )
        for thread_id, turn_id, epoch, last_item_seq, last_event_seq in claimed
    ]


def renew_leases(owner: str, lease_seconds: float) -> Op[Renewal]:
    held = yield rows(
        "UPDATE {threads} SET lease_expires_at = {now} + ? WHERE lease_owner = ? AND "
        "lease_expires_at > {now} RETURNING thread_id, lease_epoch",
        lease_seconds,
        owner,
    )
    cancel = yield rows(
        # A thread's active turn is its latest one.
        "SELECT threads.thread_id FROM {threads} AS threads JOIN {turns} AS turns ON "
        "turns.tkey = threads.tkey AND turns.number = threads.turn_count WHERE "
        "threads.lease_owner = ? AND threads.active_turn_id IS NOT NULL AND "
        "turns.cancel_requested = 1",
        owner,
    )
    return Renewal(
        held={thread_id: epoch for thread_id, epoch in held},
        cancel_requested={row[0] for row in cancel},
    )


def hand_back(thread_id: str, epoch: int) -> Op[bool]:
    """Give up a lease so that recovery continues the turn at once."""
    handed = yield count(
        "UPDATE {threads} SET lease_owner = NULL, lease_expires_at = NULL, wake_at = {now} "
        "WHERE thread_id = ? AND lease_epoch = ? AND lease_owner IS NOT NULL",
        thread_id,
        epoch,
    )
    if handed:
        yield Notify(work=[thread_id])
    return handed > 0


def request_cancel(turn_id: str) -> Op[bool]:
    cancelled = yield count(
        "UPDATE {turns} SET cancel_requested = 1 WHERE turn_id = ? AND status NOT IN "
        "('completed', 'failed', 'cancelled')",
        codec.turn_key(turn_id),
    )
    return cancelled > 0


def wake(thread_id: str) -> Op[None]:
    if (
        yield count(
            "UPDATE {threads} SET wake_at = {now} WHERE thread_id = ? AND "
            "active_turn_id IS NOT NULL AND lease_owner IS NULL",
            thread_id,
        )
    ):
        yield Notify(work=[thread_id])
