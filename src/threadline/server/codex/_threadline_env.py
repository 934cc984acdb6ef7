"""`threadline/thread/env*`: a thread's environment for the remote client. A secret's value
never leaves the server: reading one answers its marker, `[redacted:NAME]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline._redaction import MARKER
from threadline.types import ENV_TYPES

from ._jsonrpc import INVALID_PARAMS, JSON, RpcError
from ._params import Params

if TYPE_CHECKING:
    from ._session import Handler, Session


async def thread_env(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    name = params.str("name")
    env_type = await thread.env_type(name)
    if env_type == "secret":
        return {"value": MARKER.format(name=name), "type": env_type}
    return {"value": await thread.env(name) if env_type else None, "type": env_type}


async def thread_set_env(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    value = params.opt_str("value")
    if value is None:
        raise RpcError(INVALID_PARAMS, "missing required field `value` (a string)")
    env_type = params.opt_choice("type", ENV_TYPES)
    await thread.set_env(params.str("name"), value, type=env_type)  # type: ignore[arg-type]
    return {}


async def thread_delete_env(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    return {"deleted": await thread.delete_env(params.str("name"))}


METHODS: dict[str, Handler] = {
    "threadline/thread/env": thread_env,
    "threadline/thread/setEnv": thread_set_env,
    "threadline/thread/deleteEnv": thread_delete_env,
}
