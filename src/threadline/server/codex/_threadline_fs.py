"""`threadline/fs/*`: a thread's files. Content travels as base64 (`dataBase64`); a write
may send `text` instead, stored as UTF-8."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from threadline import Thread
from threadline.types import InvalidInputError

from ._jsonrpc import JSON
from ._params import Params
from ._wire import file_info_to_wire

if TYPE_CHECKING:
    from ._session import Handler, Session


async def _thread(session: Session, params: Params) -> Thread:
    return await session.thread(params.str("threadId"))


def _data(params: Params) -> bytes:
    text = params.opt_str("text")
    encoded = params.opt_str("dataBase64")
    if (text is None) == (encoded is None):
        raise InvalidInputError("send the content as either `text` or `dataBase64`")
    if text is not None:
        return text.encode()
    assert encoded is not None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("`dataBase64` is not valid base64") from None


async def fs_read(session: Session, params: Params) -> JSON:
    data = await (await _thread(session, params)).read_file(params.str("path"))
    return {"dataBase64": base64.b64encode(data).decode()}


async def fs_write(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {"file": file_info_to_wire(await thread.write_file(params.str("path"), _data(params)))}


async def fs_append(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    info = await thread.append_file(params.str("path"), _data(params))
    return {"file": file_info_to_wire(info)}


async def fs_stat(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {"file": file_info_to_wire(await thread.stat_file(params.opt_str("path") or ""))}


async def fs_readdir(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    entries = await thread.readdir_file(params.opt_str("path") or "")
    return {"files": [file_info_to_wire(f) for f in entries]}


async def fs_find(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    return {"files": [file_info_to_wire(f) for f in await thread.find_files(params.str("glob"))]}


async def fs_delete(session: Session, params: Params) -> JSON:
    return {"deleted": await (await _thread(session, params)).delete_file(params.str("path"))}


async def fs_move(session: Session, params: Params) -> JSON:
    thread = await _thread(session, params)
    info = await thread.move_file(params.str("source"), params.str("destination"))
    return {"file": file_info_to_wire(info)}


METHODS: dict[str, Handler] = {
    "threadline/fs/read": fs_read,
    "threadline/fs/write": fs_write,
    "threadline/fs/append": fs_append,
    "threadline/fs/stat": fs_stat,
    "threadline/fs/readdir": fs_readdir,
    "threadline/fs/find": fs_find,
    "threadline/fs/delete": fs_delete,
    "threadline/fs/move": fs_move,
}
