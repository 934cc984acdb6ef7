"""The inbox: queued input becomes its own turn when the thread is free, and whoever queued it
with `run(..., on_busy="enqueue")` gets that turn's events and result, wherever it runs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson

from threadline.types import (
    ContentPart,
    FileInfo,
    InboxEntry,
    InboxKind,
    InvalidInputError,
    NotFoundError,
    ThreadRecord,
    TurnInProgressError,
    new_id,
    part_from_dict,
)

from ._attachments import accept_attachments, has_files
from ._engine_parts import StartOptions, StartOutcome, TurnListener
from ._follower import follow_entry
from ._input import parts_as_json
from ._scheduling import ScheduledCall

if TYPE_CHECKING:
    from ._engine import Engine


def wait_for_entry(
    engine: Engine, thread_id: str, entry_id: str, after_seq: int, listener: TurnListener
) -> None:
    """Feed `listener` the turn that the queued entry becomes: attached to it live if it
    starts here, else followed in the stored log from `after_seq` (any seq from before the
    entry was queued)."""
    engine.inbox_waiters.setdefault(entry_id, listener)  # one is attached live; all follow
    follow_entry(engine, thread_id, entry_id, after_seq, listener)


async def drain(engine: Engine, thread_id: str) -> None:
    """Start the oldest queued input of the thread, if the thread is free."""
    if thread_id in engine.active or engine.closing:
        return
    entry = await engine.store.peek_inbox(thread_id)
    if entry is None:
        return
    # While this start runs, the entry's waiter is this start's to attach to the turn it runs
    # here; if it does not, the waiter goes back and follows the turn wherever it starts. (A
    # process that does not run turns leaves it to its follower.)
    listener = engine.inbox_waiters.pop(entry.entry_id, None) if engine.settings.run_turns else None
    starting = engine.inbox_starting
    starting[entry.entry_id] = starting.get(entry.entry_id, 0) + 1
    parts: tuple[ContentPart, ...] | ScheduledCall
    if entry.kind == "tool_call":
        spec = entry.input[0]
        parts = ScheduledCall(name=spec["name"], arguments=orjson.loads(spec["arguments"]))
    else:
        parts = tuple(part_from_dict(p) for p in entry.input)
    outcome = None
    try:
        outcome = await engine.start_turn(
            thread_id,
            parts,
            StartOptions(sender=entry.sender, client_key=entry.client_key),
            listener,
            inbox_entry_id=entry.entry_id,
        )
    except (TurnInProgressError, NotFoundError):
        pass
    finally:
        starting[entry.entry_id] -= 1
        if not starting[entry.entry_id]:
            del starting[entry.entry_id]
        if listener is not None and listener.active is None and not listener.closed:
            engine.inbox_waiters.setdefault(entry.entry_id, listener)
    if outcome is not None and outcome.kind == "duplicate":
        # The entry's input had already run as a turn; the store dropped the entry, so the
        # next one may start now.
        await drain(engine, thread_id)


async def steer(
    engine: Engine,
    thread: ThreadRecord,
    parts: tuple[ContentPart, ...] | ScheduledCall,
    options: StartOptions,
    listener: TurnListener | None,
) -> StartOutcome:
    """Queue input to join the thread's running turn before its next model step."""
    if isinstance(parts, ScheduledCall):
        raise InvalidInputError("a scheduled call cannot steer a turn")
    entry = await enqueue_parts(
        engine,
        thread.thread_id,
        parts,
        sender=options.sender,
        client_key=options.client_key,
        kind="steer",
        checked=True,  # `start_turn` checked its attachments
    )
    active = engine.active.get(thread.thread_id)
    if listener is not None and active is not None:
        active.attach(listener)
    elif listener is not None and thread.active_turn_id is not None:
        engine.follow(thread.thread_id, thread.active_turn_id, thread.last_event_seq, listener)
    return StartOutcome(kind="steered", turn_id=thread.active_turn_id, entry_id=entry.entry_id)


async def enqueue_parts(
    engine: Engine,
    thread_id: str,
    parts: tuple[ContentPart, ...],
    *,
    sender: str | None,
    client_key: str | None,
    kind: InboxKind,
    checked: bool = False,
    staged: Mapping[str, FileInfo] | None = None,
) -> InboxEntry:
    """Store input in the thread's inbox: "input" for a turn of its own, "steer" to join the
    unfinished turn (the store makes it "input" when there is none). Each file part must
    name a file of this thread, stored or among a tool's `staged` writes (`NotFoundError`
    otherwise), unless `checked` already."""
    if not checked and has_files(parts):
        parts = await accept_attachments(engine.store, thread_id, parts, staged)
    entry = await engine.store.enqueue(
        InboxEntry(
            entry_id=new_id("inbox"),
            thread_id=thread_id,
            position=0,
            input=parts_as_json(parts),
            sender=sender,
            client_key=client_key,
            created_at=time.time(),
            kind=kind,
        )
    )
    if entry.kind == "steer":
        engine.steered.add(thread_id)  # a turn running here looks before its next step
    return entry


async def entry_gone(engine: Engine, thread_id: str, entry_id: str) -> bool:
    return all(e.entry_id != entry_id for e in await engine.store.list_inbox(thread_id))
