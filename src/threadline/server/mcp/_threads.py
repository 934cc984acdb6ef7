"""The threads an MCP caller may see: those of its identity (all of them for the local user
of a server without keys), never a store=false conversation of the Responses API. Another
identity's thread is answered exactly as an unknown one."""

from __future__ import annotations

from typing import Any, cast, get_args

from threadline import Thread, Threadline
from threadline.types import InvalidInputError, NotFoundError, ThreadStatus

from ..inspector._transcript import Entry, transcript
from ..responses._access import EPHEMERAL_KEY
from ._questions import questions
from ._results import pending_approval, pending_input

MAX_PAGE = 100
_STATUSES: tuple[str, ...] = get_args(ThreadStatus)


async def owned_thread(app: Threadline, identity: str | None, thread_id: str) -> Thread:
    """The thread `thread_id` if `identity` may use it; else `NotFoundError`."""
    try:
        thread = await app.threads.resume(thread_id)
    except NotFoundError:
        raise _not_found(thread_id) from None
    if identity is not None and thread.user_id != identity:
        raise _not_found(thread_id)
    if thread.record.metadata.get(EPHEMERAL_KEY):
        raise _not_found(thread_id)
    return thread


async def list_threads(
    app: Threadline,
    identity: str | None,
    *,
    limit: int,
    cursor: str | None,
    status: str | None,
) -> dict[str, Any]:
    """A page of the caller's threads, newest first."""
    if status is not None and status not in _STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(_STATUSES)}, not {status!r}")
    page = await app.threads.list(
        user_id=identity,
        status=cast(ThreadStatus | None, status),
        limit=limit,
        cursor=cursor,
    )
    return {
        "threads": [thread_summary(t) for t in page if not t.record.metadata.get(EPHEMERAL_KEY)],
        "next_cursor": page.next_cursor,
    }


async def read_thread(thread: Thread, *, after_seq: int, limit: int) -> tuple[dict[str, Any], str]:
    """The thread's items after `after_seq` (at most `limit`), as data and as a transcript."""
    items = await thread.items(after_seq=after_seq, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    waiting = await questions(thread)
    entries = transcript(items, {p.tool_call_id for p in waiting.approvals})
    data: dict[str, Any] = {
        "thread": thread_summary(thread),
        "items": [_entry(entry) for entry in entries],
        "pending_approvals": [pending_approval(p, thread.id) for p in waiting.approvals],
        "pending_input": pending_input(waiting.choice, thread.id),
        "next_after_seq": items[-1].seq if more else None,
    }
    return data, _transcript_text(thread, entries, more)


def thread_summary(thread: Thread) -> dict[str, Any]:
    record = thread.record
    return {
        "thread_id": record.thread_id,
        "agent": record.agent,
        "status": record.status,
        "key": record.key,
        "mode": record.mode,
        "parent_id": record.parent_id,
        "turn_count": record.turn_count,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _entry(entry: Entry) -> dict[str, Any]:
    return {
        "item_id": entry.item_id,
        "seq": entry.seq,
        "turn_id": entry.turn_id,
        "type": entry.kind,
        "title": entry.title,
        "text": entry.text,
        "detail": entry.detail,
        "waiting": entry.waiting,
    }


def _transcript_text(thread: Thread, entries: list[Entry], more: bool) -> str:
    record = thread.record
    lines = [f"thread {record.thread_id} (agent {record.agent}, {record.status})"]
    for entry in entries:
        line = f"[{entry.seq}] {entry.title}"
        if entry.text:
            line += f": {entry.text}"
        if entry.detail:
            line += f"\n    {entry.detail}"
        if entry.waiting:
            line += "\n    (waits for an answer)"
        lines.append(line)
    if more:
        lines.append(f"(more items follow: read again with after_seq={entries[-1].seq})")
    return "\n".join(lines)


def _not_found(thread_id: str) -> NotFoundError:
    return NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
