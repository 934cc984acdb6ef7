"""`threadline/thread/children`, `child` and `parent`: a thread's relatives for the remote
client. A relative is answered only if the connection may see the thread asked about; the
relatives of a thread share its user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.runtime import ChildThread

from ._jsonrpc import JSON
from ._params import Params
from ._wire import result_to_wire, thread_to_wire

if TYPE_CHECKING:
    from ._session import Handler, Session


def child_to_wire(child: ChildThread) -> JSON:
    return {
        "thread_id": child.thread_id,
        "reference_id": child.reference_id,
        "agent": child.agent,
        "status": child.status,
        "parent_turn_id": child.parent_turn_id,
        "created_at": child.created_at,
        "result": None if child.result is None else result_to_wire(child.result),
    }


async def thread_children(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    return {"children": [child_to_wire(c) for c in await thread.children()]}


async def thread_child(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    child = await thread.child(params.str("referenceId"))
    return {"thread": None if child is None else thread_to_wire(child.record)}


async def thread_parent(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    parent = await thread.parent()
    return {"thread": None if parent is None else thread_to_wire(parent.record)}


METHODS: dict[str, Handler] = {
    "threadline/thread/children": thread_children,
    "threadline/thread/child": thread_child,
    "threadline/thread/parent": thread_parent,
}
