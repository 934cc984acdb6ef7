"""`threadline/thread/*` for a thread's messages and lifecycle: read, inject, edit and queue
messages, the running turn, and terminating the thread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from threadline import Thread
from threadline.types import InvalidInputError

from ._jsonrpc import JSON
from ._params import Params
from ._wire import inbox_to_wire, thread_to_wire

if TYPE_CHECKING:
    from ._session import Handler, Session

_ROLES = ("user", "assistant")


async def _thread(session: Session, params: Params) -> Thread:
    return await session.thread(params.str("threadId"))


def _content(params: Params) -> Any:
    content = params.raw.get("content")
    if not isinstance(content, str | list):
        raise InvalidInputError("`content` must be text or a list of input parts")
    return content


async def execution(session: Session, params: Params) -> JSON:
    turn = await (await _thread(session, params)).execution()
    return {"turn": None if turn is None else turn.to_dict()}


async def get_message(session: Session, params: Params) -> JSON:
    item = await (await _thread(session, params)).get_message(params.str("itemId"))
    return {"item": item.to_dict()}


async def get_message_versions(session: Session, params: Params) -> JSON:
    items = await (await _thread(session, params)).get_message_versions(params.str("itemId"))
    return {"items": [i.to_dict() for i in items]}


async def inject_message(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    item = await thread.inject_message(
        _content(params),
        role=params.opt_choice("role", _ROLES) or "user",  # type: ignore[arg-type]
        sender=params.opt_str("sender"),
    )
    return {"item": item.to_dict()}


async def update_message(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    item = await thread.update_message(params.str("itemId"), _content(params))
    return {"item": item.to_dict()}


async def queue_message(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    entry = await thread.queue_message(
        _content(params), sender=params.opt_str("sender"), client_key=params.opt_str("clientKey")
    )
    return {"entry": inbox_to_wire(entry)}


async def terminate(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {"thread": thread_to_wire(await thread.terminate(params.str("reason")))}


METHODS: dict[str, Handler] = {
    "threadline/thread/execution": execution,
    "threadline/thread/getMessage": get_message,
    "threadline/thread/getMessageVersions": get_message_versions,
    "threadline/thread/injectMessage": inject_message,
    "threadline/thread/updateMessage": update_message,
    "threadline/thread/queueMessage": queue_message,
    "threadline/thread/terminate": terminate,
}
