"""`POST /v1/responses/compact`: a conversation's context made short. The agent's model
summarises it (the same summariser that keeps long threads inside a context window), and the
answer is the conversation's user messages followed by one `compaction` item carrying the
summary. A later request sends that list back as its input, in place of the history.

Compacting reads and stores nothing beyond the model call: the conversation it describes is
left as it is, and the summary is kept where it is used, as the stored summary of the
conversation that a returned `compaction` item starts (see `_append`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threadline.models import resolve_model
from threadline.runtime._context_window import summarize, with_summary
from threadline.runtime._history import visible_history
from threadline.runtime._turn_events import loose_items
from threadline.types import (
    Item,
    ModelError,
    ThreadlineError,
    ToolCall,
    UserMessage,
    new_id,
)

from .._body import read_json
from .._errors import APIError, from_threadline, invalid
from ._access import Access
from ._adapter import usage_object
from ._append import parse_items
from ._wire_items import WireItem, compaction, user_message


@dataclass(frozen=True, kw_only=True)
class CompactParams:
    model: str
    input: list[Any]  # input items, checked once the calls they may answer are known
    previous_response_id: str | None = None


def parse_compact(body: dict[str, Any]) -> CompactParams:
    """Raises `APIError` (400) naming the first parameter that is wrong."""
    model = body.get("model")
    if model is None:
        raise invalid(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str):
        raise invalid("model must be a string", param="model")
    for name in ("instructions", "prompt_cache_key", "previous_response_id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise invalid(f"{name} must be a string", param=name)
    value = body.get("input")
    if isinstance(value, str):
        value = [{"type": "message", "role": "user", "content": value}]
    if value is not None and not isinstance(value, list):
        raise invalid("input must be a string or a list of input items", param="input")
    previous = body.get("previous_response_id")
    if not value and previous is None:
        raise invalid(
            "nothing to compact: give input, previous_response_id, or both", param="input"
        )
    return CompactParams(model=model, input=value or [], previous_response_id=previous)


class CompactAPI:
    """The route of `/v1/responses/compact`."""

    def __init__(self, access: Access) -> None:
        self.access = access

    def routes(self) -> list[Route]:
        return [Route("/v1/responses/compact", self.compact, methods=["POST"])]

    async def compact(self, request: Request) -> Response:
        config = self.access.config
        body = await read_json(
            request, max_bytes=config.max_body_bytes, max_depth=config.max_json_depth
        )
        params = parse_compact(body)
        agents = self.access.app.agents
        agent_name = params.model if params.model in agents else next(iter(agents))
        history: list[Item] = []
        if params.previous_response_id is not None:
            found = await self.access.response(
                request, params.previous_response_id, "previous_response_id"
            )
            agent_name = found.thread.record.agent
            numbers = {t.turn_id: t.number for t in await found.thread.turns()}
            history = [
                i
                for i in await found.thread.items()
                if i.turn_id is None or numbers.get(i.turn_id, 0) <= found.turn.number
            ]
        calls = {
            i.payload.tool_call_id: i.payload.name
            for i in history
            if isinstance(i.payload, ToolCall)
        }
        payloads = parse_items(params.input, calls, param="input", max_items=None)
        # Request input follows the stored history as items of no thread; it is never stored.
        items = _context([*history, *loose_items("", _last_seq(history), payloads)])
        if not items:
            raise invalid("the conversation has nothing to compact", param="input")
        agent = agents[agent_name]
        try:
            model = resolve_model(agent.model if agent.model is not None else self.access.app.model)
            summary, usage = await summarize(model, items)
        except ModelError as exc:
            raise APIError(
                500, f"the model failed to compact: {exc.message}", code="model_error"
            ) from None
        except ThreadlineError as exc:
            raise from_threadline(exc) from None
        output: list[WireItem] = [
            user_message(new_id("msg"), i.payload.content)
            for i in items
            if isinstance(i.payload, UserMessage)
        ]
        output.append(compaction(new_id("cmp"), summary))
        return JSONResponse(
            {
                "id": new_id("resp"),
                "object": "response.compaction",
                "created_at": int(time.time()),
                "output": output,
                "usage": usage_object(usage),
            }
        )


def _context(items: list[Item]) -> list[Item]:
    """What the model would read of `items`: edits applied, an earlier summary first in
    place of what it covers."""
    return with_summary(visible_history(items))


def _last_seq(items: list[Item]) -> int:
    return max((i.seq for i in items), default=0)
