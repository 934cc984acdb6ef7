"""`/v1/responses`: a response is one segment of a turn (see `_adapter`). Creating one starts
a turn with the request's input (after the history it brings, see `_input_plan`), or
continues the conversation's paused turn with the approvals and function call outputs the
input carries. A `store=false` response is found by no lookup outside the connection that
made it, from the moment it exists."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from threadline import Thread
from threadline.store import ItemQuery
from threadline.types import (
    IMPORTED_PHASE,
    Item,
    Payload,
    SystemEvent,
    ThreadlineError,
    ToolCall,
    UserMessage,
)

from .._body import read_json
from .._errors import APIError, from_threadline, invalid, not_found
from ._access import EPHEMERAL_KEY, Access, Found
from ._adapter import Translator
from ._feed import Segment, follow, replay
from ._ids import ResponseRef
from ._input import Decision, InputEntry, Message, parse_input
from ._input_plan import Conversation, InputPlan, plan_input
from ._lists import PageQuery, page
from ._params import CreateParams, parse_create
from ._references import resolve_references
from ._runs import (
    Started,
    continue_paused,
    delete_thread,
    start_input,
    turn_start,
)
from ._sse import EventStream
from ._turn_fields import (
    continued_annotations,
    first_annotations,
    refuse_instructions,
    turn_settings,
)
from ._uploads import store_uploads, take_uploads, with_uploads

DELETED_KEY = "threadline.deleted_responses"
CONVERSATION_KEY = "threadline.conversation"
_MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True, kw_only=True)
class Begun:
    """A response a create request started: `cleanup()` once its events are read."""

    params: CreateParams
    found: Found
    translator: Translator
    segment: Segment
    cleanup: Callable[[], None]


class ResponsesAPI:
    """The routes of `/v1/responses`."""

    def __init__(self, access: Access) -> None:
        self.access = access

    def routes(self) -> list[Route]:
        return [
            Route("/v1/responses", self.create, methods=["POST"]),
            Route("/v1/responses/{response_id}", self.retrieve, methods=["GET"]),
            Route("/v1/responses/{response_id}", self.delete, methods=["DELETE"]),
            Route("/v1/responses/{response_id}/cancel", self.cancel, methods=["POST"]),
            Route("/v1/responses/{response_id}/input_items", self.input_items, methods=["GET"]),
        ]

    # -- create ------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        config = self.access.config
        body = await read_json(
            request, max_bytes=config.max_body_bytes, max_depth=config.max_json_depth
        )
        begun = await self.begin(request, body, _idempotency_key(request))
        if begun.params.stream:
            translator = begun.translator
            return EventStream(
                follow(
                    begun.segment,
                    translator,  # type: ignore[return-value]
                    tick=config.keepalive_seconds / 2,
                ),
                starting_after=None,
                keepalive=config.keepalive_seconds,
                write_timeout=config.write_timeout_seconds,
                finished=lambda: translator.done,
                cleanup=begun.cleanup,
            )
        try:
            if begun.params.background:  # the driver keeps the turn going
                return JSONResponse(await self._snapshot(begun.found, background=True))
            events = follow(begun.segment, begun.translator)
            try:
                async for _ in events:
                    pass
            finally:
                await events.aclose()
            return JSONResponse(begun.translator.snapshot())
        finally:
            begun.cleanup()

    async def begin(
        self,
        connection: HTTPConnection,
        body: dict[str, Any],
        idempotency_key: str | None,
        *,
        held: set[str] | None = None,
    ) -> Begun:
        """Start (or continue) the turn a create request asks for: the response's translator
        and where its events come from. A store=false conversation is deleted once its turn
        has ended, unless `held`: then it is added there, for the caller to delete."""
        params = parse_create(body)
        refuse_instructions(params, self.access.config)
        raw_input, uploads = take_uploads(params.input, "input")
        entries = parse_input(raw_input)
        thread, new, plan = await self._thread_for(connection, params, entries, idempotency_key)
        if uploads:
            try:
                stored = await store_uploads(thread, uploads)
            except ThreadlineError as exc:
                if new:
                    await _forget(thread)
                raise from_threadline(exc, param="input") from None
            plan = replace(plan, new=with_uploads(plan.new, stored))
        created = new and idempotency_key is None
        delete_after = new and not params.store
        try:
            started = await self._start(
                thread,
                params,
                plan,
                idempotency_key,
                created=created,
                delete_after=delete_after and held is None,
            )
        except ThreadlineError as exc:
            if new and idempotency_key is None:
                await _forget(thread)
            raise from_threadline(exc, param="input") from None
        except APIError:
            if new and idempotency_key is None:
                await _forget(thread)
            raise
        if delete_after and held is not None:
            held.add(thread.id)

        def cleanup() -> None:
            started.live.close()
            if started.driver is not None:
                started.driver.release()

        try:
            if not params.store and not thread.record.metadata.get(EPHEMERAL_KEY):
                # A store=false response of a stored conversation: hidden before anyone
                # learns its id, so that no lookup ever finds it.
                await _hide(thread, started.ref.response_id)
            turn = await self.access.app.store.get_turn(started.ref.turn_id)
            assert turn is not None
            found = Found(ref=started.ref, turn=turn, thread=thread)
            translator = await self.access.translator(
                found,
                background=params.background,
                store=params.store,
                earlier_calls=not (created and _one_message(plan.new)),
            )
        except BaseException:
            cleanup()
            raise
        return Begun(
            params=params,
            found=found,
            translator=translator,
            segment=self.access.segment(
                found, started.live, live_from_start=started.live_from_start
            ),
            cleanup=cleanup,
        )

    async def _thread_for(
        self,
        request: HTTPConnection,
        params: CreateParams,
        entries: list[InputEntry],
        idempotency_key: str | None,
    ) -> tuple[Thread, bool, InputPlan]:
        """The thread the request continues, or a new one (created once the input is known to
        be good), and what the input adds to it."""
        access = self.access
        if params.conversation is not None:
            thread = await access.thread(request, params.conversation, param="conversation")
        elif params.previous_response_id is not None:
            found = await self._found(
                request, params.previous_response_id, param="previous_response_id"
            )
            thread = found.thread
            if found.turn.number != thread.record.turn_count:
                raise APIError(
                    409,
                    "previous_response_id names a response that the "
                    "conversation has moved past; continue from its latest "
                    "response",
                    param="previous_response_id",
                    code="previous_response_not_latest",
                )
        elif (answered := await self._answered_thread(request, entries)) is not None:
            thread = answered
        else:
            entries = await resolve_references(access, request, entries, held=())
            plan = plan_input(entries, Conversation([]), waiting=())
            if plan.resolves:
                raise _nothing_to_continue()
            if not plan.new:
                raise invalid("input has no user message", param="input")
            agents = access.app.agents
            agent = params.model if params.model in agents else None
            identity = access.identity(request)
            key = (
                None
                if idempotency_key is None
                else (f"idempotency:{identity or 'local'}:{idempotency_key}")
            )
            thread = await access.app.threads.start(
                user_id=identity,
                agent=agent,
                key=key,
                metadata=None if params.store else {EPHEMERAL_KEY: True},
            )
            return thread, True, plan
        # One message without an id is new whatever the thread holds (see `_input_plan`):
        # the common request needs no read of a long thread.
        single = len(entries) == 1 and isinstance(entries[0], Message) and not entries[0].item_id
        items = [] if single else await thread.items()
        entries = await resolve_references(
            access, request, entries, held={i.item_id for i in items}
        )
        waiting = [p.tool_call_id for p in await thread.pending() if isinstance(p, ToolCall)]
        return thread, False, plan_input(entries, Conversation(items), waiting)

    async def _answered_thread(
        self, request: HTTPConnection, entries: list[InputEntry]
    ) -> Thread | None:
        """The caller's conversation that holds the approval requests the input answers, if
        one does: a client that keeps the history itself (the Agents SDK's default mode)
        sends the answer with the items before it, naming no conversation."""
        asked = [e.approval_request_id for e in entries if isinstance(e, Decision)]
        if not asked:
            return None
        store = self.access.app.store
        holders = {
            i.thread_id for i in await store.query_items(ItemQuery(thread_id=None, item_ids=asked))
        }
        if len(holders) != 1:
            return None
        try:
            return await self.access.thread(request, holders.pop())
        except APIError:
            return None  # another key's request is as unknown as a missing one

    async def _start(
        self,
        thread: Thread,
        params: CreateParams,
        plan: InputPlan,
        idempotency_key: str | None,
        *,
        created: bool,
        delete_after: bool,
    ) -> Started:
        config = self.access.config
        drivers = self.access.drivers
        if idempotency_key is not None and not plan.resolves:
            for earlier in await thread.turns():
                if earlier.client_key == idempotency_key:
                    return Started(
                        ref=ResponseRef(
                            turn_id=earlier.turn_id,
                            after_seq=await turn_start(thread, earlier.turn_id),
                        ),
                        live=thread.subscribe(buffer=config.sse_buffer),
                        driver=None,
                    )
        # A thread this request has just created has no turn yet.
        record = thread.record if created else await thread.reload()
        turn = (
            None
            if record.active_turn_id is None
            else await self.access.app.store.get_turn(record.active_turn_id)
        )
        paused = turn is not None and turn.status == "awaiting_approval"
        self._check_tools(thread, params)
        if plan.resolves:
            if not paused or turn is None:
                raise _nothing_to_continue()
            paused_turn = turn
            return await continue_paused(
                drivers,
                thread,
                turn.turn_id,
                decisions=plan.decisions,
                outputs=plan.outputs,
                messages=_messages_only(plan.new),
                annotations=lambda ref: continued_annotations(params, paused_turn, ref),
                buffer=config.sse_buffer,
                delete_after=delete_after,
            )
        if paused:
            waiting = [p for p in await thread.pending() if isinstance(p, ToolCall)]
            if not plan.new and not waiting:
                raise invalid(
                    "the conversation waits for the answer to an approval request: send an "
                    "mcp_approval_response, or a new message to leave it unanswered",
                    param="input",
                )
            if waiting:
                raise invalid(
                    f"No tool output found for function call {waiting[0].tool_call_id}.",
                    param="input",
                    code="missing_function_call_output",
                )
        history, message = _split(plan.new)
        return await start_input(
            drivers,
            thread,
            history,
            message,
            client_key=idempotency_key,
            external_tools=params.tools,
            require_approval=self._client_approvals(thread, params),
            settings=turn_settings(params),
            annotations=first_annotations(params),
            interrupt_paused=paused,
            buffer=config.sse_buffer,
            delete_after=delete_after,
        )

    def _check_tools(self, thread: Thread, params: CreateParams) -> None:
        agent = self.access.app.agents.get(thread.record.agent)
        if agent is None:
            return
        own = agent.resolve_mode(thread.record.mode).tools
        for index, tool in enumerate(params.tools):
            if tool.name in own:
                raise invalid(
                    f"the agent has a tool named {tool.name!r} already; give the "
                    "function tool another name",
                    param=f"tools[{index}].name",
                )

    def _client_approvals(self, thread: Thread, params: CreateParams) -> frozenset[str]:
        agent = self.access.app.agents.get(thread.record.agent)
        if params.approvals is None or agent is None:
            return frozenset()
        return params.approvals.tool_names(agent.resolve_mode(thread.record.mode).tools)

    # -- read --------------------------------------------------------------------------------

    async def retrieve(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        query = request.query_params
        stream = _flag(query.get("stream"), "stream")
        starting_after = _integer(query.get("starting_after"), "starting_after")
        found = await self._found(request, response_id)
        if not stream:
            return JSONResponse(await self._snapshot(found))
        config = self.access.config
        translator = await self.access.translator(found)
        live = found.thread.subscribe(buffer=config.sse_buffer)
        return EventStream(
            follow(
                self.access.segment(found, live),
                translator,  # type: ignore[return-value]
                tick=config.keepalive_seconds / 2,
            ),
            starting_after=starting_after,
            keepalive=config.keepalive_seconds,
            write_timeout=config.write_timeout_seconds,
            finished=lambda: translator.done,
            cleanup=live.close,
        )

    async def input_items(self, request: Request) -> Response:
        found = await self._found(request, request.path_params["response_id"])
        query = PageQuery.parse(request.query_params)
        translator = await self.access.translator(found)
        await replay(self.access.segment(found), translator)
        items = await found.thread.items()
        wanted = translator.input_item_ids | await _imported_ids(found, items)
        mapper = await self.access.mapper(found.thread, items)
        wire = [mapper.wire(i) for i in items if i.item_id in wanted]
        return JSONResponse(page([w for w in wire if w is not None], query))

    async def _snapshot(self, found: Found, *, background: bool = False) -> dict[str, Any]:
        translator = await self.access.translator(found, background=background)
        await replay(self.access.segment(found), translator)
        return translator.snapshot()

    async def _found(
        self, request: HTTPConnection, response_id: str, param: str | None = None
    ) -> Found:
        found = await self.access.response(request, response_id, param)
        if response_id in found.thread.record.metadata.get(DELETED_KEY, []):
            raise not_found("Response", response_id, param)
        return found

    # -- change ------------------------------------------------------------------------------

    async def cancel(self, request: Request) -> Response:
        found = await self._found(request, request.path_params["response_id"])
        translator = await self.access.translator(found)
        await replay(self.access.segment(found), translator)
        if not translator.done and not found.turn.is_final:
            try:
                await found.thread.interrupt()
            except ThreadlineError as exc:
                raise from_threadline(exc) from None
        return JSONResponse(await self._snapshot(found))

    async def delete(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        found = await self._found(request, response_id)
        thread = found.thread
        record = await thread.reload()
        if record.active_turn_id == found.turn.turn_id and found.turn.status == "running":
            raise APIError(
                409,
                "the response is still in progress; cancel it first",
                code="response_in_progress",
            )
        try:
            if record.turn_count == 1 and not record.metadata.get(CONVERSATION_KEY):
                await delete_thread(thread)
            else:
                deleted = [*record.metadata.get(DELETED_KEY, []), response_id]
                await thread.set_metadata({**record.metadata, DELETED_KEY: deleted})
        except ThreadlineError as exc:
            raise from_threadline(exc) from None
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})


def _nothing_to_continue() -> APIError:
    return invalid("no approval request of this conversation waits for an answer", param="input")


def _split(new: list[Payload]) -> tuple[list[Payload], UserMessage | None]:
    """The history to import and the user message the turn starts with (the input's last
    item, if it is a user message; else the turn answers the history)."""
    if new and isinstance(new[-1], UserMessage):
        return new[:-1], new[-1]
    return new, None


def _one_message(new: list[Payload]) -> bool:
    return len(new) == 1 and isinstance(new[0], UserMessage)


def _messages_only(new: list[Payload]) -> list[UserMessage]:
    messages = [p for p in new if isinstance(p, UserMessage)]
    if len(messages) != len(new):
        raise invalid(
            "the answers to a paused response can come with new user messages only; send "
            "other items in a request of their own",
            param="input",
        )
    return messages


async def _imported_ids(found: Found, items: list[Item]) -> set[str]:
    """The items a request imported as history before its turn, if `found` is the turn's
    first response (their marker follows them, see `IMPORTED_PHASE`)."""
    first = await found.thread.events(after_seq=found.ref.after_seq, limit=1)
    if not first or first[0].type != "turn_started" or first[0].turn_id != found.turn.turn_id:
        return set()
    for item in items:
        payload = item.payload
        if (
            isinstance(payload, SystemEvent)
            and payload.phase == IMPORTED_PHASE
            and payload.data.get("turn_id") == found.turn.turn_id
        ):
            count = int(payload.data.get("count", 0))
            return {i.item_id for i in items if item.seq - count <= i.seq < item.seq}
    return set()


async def _hide(thread: Thread, response_id: str) -> None:
    """Make a response of an existing conversation unretrievable (`store=false`)."""
    record = await thread.reload()
    hidden = [*record.metadata.get(DELETED_KEY, []), response_id]
    await thread.set_metadata({**record.metadata, DELETED_KEY: hidden})


async def _forget(thread: Thread) -> None:
    with contextlib.suppress(ThreadlineError):
        await delete_thread(thread)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise invalid(f"Idempotency-Key must be 1-{_MAX_IDEMPOTENCY_KEY} printable characters")
    return key


def _flag(value: str | None, name: str) -> bool:
    if value is None or value in ("false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise invalid(f"{name} must be true or false", param=name)


def _integer(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"{name} must be an integer", param=name) from None
    if number < -1:
        raise invalid(f"{name} must be -1 or more", param=name)
    return number
