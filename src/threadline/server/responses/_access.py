"""Finding what a request names, for the key that made it: each key sees only its own
threads, and anything else is reported as not found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from threadline import Thread, Threadline
from threadline.types import ApprovalRequest, Item, NotFoundError, ToolCall, TurnRecord

from .._config import ServerConfig
from .._errors import APIError, not_found
from .._security import identity_of
from ._adapter import PriorCalls, ResponseInfo, Translator
from ._feed import Segment
from ._ids import ResponseRef, parse_response_id
from ._profile import OPEN_RESPONSES, OPENAI, Profile
from ._runs import Drivers
from ._turn_fields import response_fields
from ._wire_items import ItemMapper, external_call_ids

EPHEMERAL_KEY = "threadline.ephemeral"  # thread metadata: started by a store=false request
_HELD_KEY = "threadline.held_threads"  # connection state: the ephemeral threads it may use


def hold(connection: HTTPConnection) -> set[str]:
    """The ephemeral threads `connection` may use (a WebSocket keeps those it started); a
    response of any other ephemeral thread is answered as not found."""
    state = connection.scope.setdefault("state", {})
    held: set[str] = state.setdefault(_HELD_KEY, set())
    return held


@dataclass(frozen=True, kw_only=True)
class Found:
    """A stored response: its segment's turn and thread."""

    ref: ResponseRef
    turn: TurnRecord
    thread: Thread


class Access:
    """What the routes share: the app, the server's settings and its turn drivers."""

    def __init__(self, app: Threadline, config: ServerConfig, drivers: Drivers) -> None:
        self.app = app
        self.config = config
        self.drivers = drivers

    @property
    def profile(self) -> Profile:
        """The dialect of the Responses API this server writes."""
        return OPEN_RESPONSES if self.config.open_responses else OPENAI

    @staticmethod
    def identity(request: HTTPConnection) -> str | None:
        return identity_of(request.scope)

    async def thread(
        self,
        request: HTTPConnection,
        thread_id: str,
        *,
        kind: str = "Conversation",
        param: str | None = None,
    ) -> Thread:
        """The thread `thread_id`, if the caller's key owns it (and, for a store=false
        conversation, if the caller's connection holds it)."""
        try:
            thread = await self.app.threads.resume(thread_id)
        except NotFoundError:
            raise not_found(kind, thread_id, param) from None
        identity = self.identity(request)
        if identity is not None and thread.user_id != identity:
            raise not_found(kind, thread_id, param)
        if thread.record.metadata.get(EPHEMERAL_KEY) and thread.id not in hold(request):
            raise not_found(kind, thread_id, param)
        return thread

    async def response(
        self, request: HTTPConnection, response_id: str, param: str | None = None
    ) -> Found:
        """The response `response_id`, if the caller may see its thread (`thread`)."""
        ref = parse_response_id(response_id)
        turn = None if ref is None else await self.app.store.get_turn(ref.turn_id)
        if ref is None or turn is None:
            raise _response_not_found(response_id, param)
        try:
            thread = await self.thread(request, turn.thread_id, param=param)
        except APIError:
            # Another key's response is answered as an unknown one: naming its thread
            # would tell the caller whose conversation it belongs to.
            raise _response_not_found(response_id, param) from None
        return Found(ref=ref, turn=turn, thread=thread)

    def info(self, found: Found, *, background: bool = False, store: bool = True) -> ResponseInfo:
        """What a response says of itself besides its events."""
        thread, turn = found.thread, found.turn
        fields = response_fields(
            self.app.agents.get(thread.record.agent), thread.record.mode, turn, found.ref
        )
        tools = [
            {
                "type": "function",
                "name": spec["name"],
                "description": spec.get("description") or None,
                "parameters": spec.get("parameters") or {},
                "strict": False,
            }
            for spec in turn.options.get("external_tools", [])
        ]
        return ResponseInfo(
            response_id=found.ref.response_id,
            created_at=turn.created_at,
            model=thread.record.agent,
            instructions=fields.instructions,
            tools=tools,
            text_format=fields.text_format,
            conversation_id=thread.id,
            background=background,
            completed_at=turn.completed_at,
            temperature=fields.temperature,
            top_p=fields.top_p,
            max_output_tokens=fields.max_output_tokens,
            previous_response_id=fields.previous_response_id,
            store=store,
            metadata=fields.metadata,
        )

    async def translator(
        self,
        found: Found,
        *,
        background: bool = False,
        store: bool = True,
        earlier_calls: bool = True,
    ) -> Translator:
        """`earlier_calls=False`: the turn can have no calls from before the response (a
        new thread's first turn, started by one message), so they are not read."""
        prior = None
        if earlier_calls:
            items = [i for i in await found.thread.items() if i.turn_id == found.turn.turn_id]
            prior = prior_calls(items)
        return Translator(
            self.info(found, background=background, store=store),
            turn_id=found.turn.turn_id,
            external_tools=external_names(found.turn),
            prior=prior,
            profile=self.profile,
        )

    def segment(self, found: Found, live: Any = None, *, live_from_start: bool = False) -> Segment:
        return Segment(
            thread=found.thread,
            store=self.app.store,
            turn_id=found.turn.turn_id,
            after_seq=found.ref.after_seq,
            live=live,
            live_from_start=live_from_start,
        )

    async def mapper(self, thread: Thread, items: list[Item] | None = None) -> ItemMapper:
        """Maps the thread's stored items to their wire forms."""
        if items is None:
            items = await thread.items()
        names = {turn.turn_id: external_names(turn) for turn in await thread.turns()}
        return ItemMapper(items, external_call_ids(items, names), self.profile)


def _response_not_found(response_id: str, param: str | None) -> APIError:
    error = not_found("Response", response_id, param)
    if param == "previous_response_id":
        error.code = "previous_response_not_found"  # OpenAI's code for this parameter
    return error


def external_names(turn: TurnRecord) -> frozenset[str]:
    """The names of the function tools the client gave the turn."""
    return frozenset(str(spec.get("name")) for spec in turn.options.get("external_tools", []))


def prior_calls(items: list[Item]) -> PriorCalls:
    calls: dict[str, tuple[str, ToolCall]] = {}
    approvals: dict[str, str] = {}
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolCall):
            calls[payload.tool_call_id] = (item.item_id, payload)
        elif isinstance(payload, ApprovalRequest):
            approvals[payload.tool_call_id] = item.item_id
    return PriorCalls(calls=calls, approval_ids=approvals)
