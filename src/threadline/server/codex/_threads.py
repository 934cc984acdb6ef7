"""`thread/*` and `model/list`: threads are threadline threads, models are the app's agents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline import Thread
from threadline.types import ROLLBACK_PHASE, InvalidInputError, SystemEvent

from ._approvals import reissue, waiting_flags
from ._jsonrpc import JSON
from ._params import Params
from ._shapes import model_entry, preview, session_fields, thread_shape, turns_shape

if TYPE_CHECKING:
    from ._session import Handler, Session


async def shape_of(session: Session, thread: Thread, *, with_turns: bool) -> JSON:
    record = await thread.reload()
    # The preview is the first user message, nearly always the first item.
    items = await thread.items() if with_turns else await thread.items(limit=1)
    turns = turns_shape(await thread.turns(), items) if with_turns else None
    flags = sorted(set((await waiting_flags(thread)).values())) if record.active_turn_id else []
    return thread_shape(record, session.hub.info, preview=preview(items), turns=turns, flags=flags)


async def thread_start(session: Session, params: Params) -> JSON:
    thread = await session.hub.app.threads.start(
        user_id=session.user_id(params.opt_str("userId")),
        agent=params.opt_str("model"),
        metadata=params.opt_dict("metadata"),
        key=params.opt_str("key"),
        mode=params.opt_str("mode"),
    )
    shape = await shape_of(session, thread, with_turns=False)
    watch = await session.watch(thread)
    session.hold(watch)
    session.defer(lambda: session.notify("thread/started", {"thread": shape}))
    return {**session_fields(thread.record, session.hub.info), "thread": shape}


async def thread_resume(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    watch = await session.watch(thread)
    session.hold(watch)
    shape = await shape_of(session, thread, with_turns=not params.opt_bool("excludeTurns"))

    def ask_again() -> None:
        session.spawn(reissue(session, thread))

    session.defer(ask_again)
    return {**session_fields(thread.record, session.hub.info), "thread": shape}


async def thread_fork(session: Session, params: Params) -> JSON:
    source = await session.thread(params.str("threadId"))
    thread = await session.hub.app.threads.fork(source.id)
    shape = await shape_of(session, thread, with_turns=True)
    watch = await session.watch(thread)
    session.hold(watch)
    session.defer(lambda: session.notify("thread/started", {"thread": shape}))
    return {**session_fields(thread.record, session.hub.info), "thread": shape}


async def thread_rollback(session: Session, params: Params) -> JSON:
    """Codex before 0.163: drop the last `numTurns` turns; the thread comes with its turns."""
    thread = await session.thread(params.str("threadId"))
    await thread.rollback(params.opt_int("numTurns", minimum=1) or 1)
    return {"thread": await shape_of(session, thread, with_turns=True)}


async def thread_revert(session: Session, params: Params) -> JSON:
    """Codex 0.163 on: drop the turn `beforeTurnId` and every later one. The thread comes
    without turns (as in codex, where they are paged separately), then `thread/reverted`."""
    thread = await session.thread(params.str("threadId"))
    before = params.str("beforeTurnId")
    kept = await _turns_in_history(thread)
    if before not in kept:
        raise InvalidInputError(
            f"no turn {before[:80]!r} in the history of thread {thread.id!r}",
            thread_id=thread.id,
        )
    await thread.rollback(len(kept) - kept.index(before))
    shape = await shape_of(session, thread, with_turns=False)
    session.defer(lambda: session.notify("thread/reverted", {"threadId": thread.id}))
    return {"thread": shape, "turnsBackwardsCursor": None, "itemsBackwardsCursor": None}


async def _turns_in_history(thread: Thread) -> list[str]:
    """The ids of the thread's turns, oldest first, less those an earlier rollback took out
    of the history (the runtime records them in a system event)."""
    gone: set[str] = set()
    for item in await thread.items():
        payload = item.payload
        if isinstance(payload, SystemEvent) and payload.phase == ROLLBACK_PHASE:
            gone.update(str(t) for t in payload.data.get("turn_ids", []))
    return [t.turn_id for t in await thread.turns() if t.turn_id not in gone]


async def thread_list(session: Session, params: Params) -> JSON:
    archived = params.opt_bool("archived")
    page = await session.hub.app.threads.list(
        user_id=session.user_id(params.opt_str("userId")),
        status="archived" if archived else None,
        limit=params.opt_int("limit", minimum=1, maximum=200) or 25,
        cursor=params.opt_str("cursor"),
    )
    data = [await shape_of(session, thread, with_turns=False) for thread in page.threads]
    return {"data": data, "nextCursor": page.next_cursor, "backwardsCursor": None}


async def thread_read(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    return {
        "thread": await shape_of(session, thread, with_turns=bool(params.opt_bool("includeTurns")))
    }


async def thread_archive(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    await thread.archive()
    session.defer(lambda: session.notify("thread/archived", {"threadId": thread.id}))
    return {}


async def thread_unarchive(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    await thread.unarchive()
    session.defer(lambda: session.notify("thread/unarchived", {"threadId": thread.id}))
    return {"thread": await shape_of(session, thread, with_turns=False)}


async def thread_set_name(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    name = params.str("name")
    await thread.set_metadata({**thread.record.metadata, "name": name})
    session.defer(
        lambda: session.notify("thread/name/updated", {"threadId": thread.id, "threadName": name})
    )
    return {}


async def model_list(session: Session, params: Params) -> JSON:
    params.opt_bool("includeHidden")
    agents = list(session.hub.app.agents.values())
    return {
        "data": [
            model_entry(a.name, a.resolve_mode(None).instructions, is_default=i == 0)
            for i, a in enumerate(agents)
        ],
        "nextCursor": None,
    }


METHODS: dict[str, Handler] = {
    "thread/start": thread_start,
    "thread/resume": thread_resume,
    "thread/fork": thread_fork,
    "thread/list": thread_list,
    "thread/read": thread_read,
    "thread/archive": thread_archive,
    "thread/unarchive": thread_unarchive,
    "thread/name/set": thread_set_name,
    "thread/rollback": thread_rollback,
    "thread/revert": thread_revert,
    "model/list": model_list,
}
