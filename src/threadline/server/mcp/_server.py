"""The MCP server over a Threadline app: each agent a tool, plus `list_threads`,
`read_thread`, `answer_approval` and `answer_input`, for the caller's own threads only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.requests import HTTPConnection

from threadline import Thread, Threadline, TurnResult, TurnStream, __version__
from threadline._logging import log_failure
from threadline.runtime._input import normalize_input
from threadline.types import InvalidInputError, NotFoundError, ThreadlineError

from .._security import identity_of
from ._catalog import BUILT_IN, LIST_THREADS, READ_THREAD, Arguments, catalog
from ._questions import (
    Answer,
    Answers,
    Reply,
    ask,
    can_elicit,
    input_required,
    questions,
    record,
    reply,
)
from ._results import ANSWER_APPROVAL, ANSWER_INPUT, data_result, error_result, turn_result
from ._threads import MAX_PAGE, list_threads, owned_thread, read_thread
from ._turns import TurnTasks

logger = logging.getLogger("threadline.server")

_INSTRUCTIONS = (
    "Each tool named after an agent runs one turn of that agent on a durable thread and "
    "returns its answer with the thread's id; pass thread_id to continue the thread. "
    f"{LIST_THREADS} and {READ_THREAD} show your threads. A turn that waits for a person's "
    f"approval says so; {ANSWER_APPROVAL} approves or denies the call and continues the turn. "
    f"A turn whose tool asks a question says so; {ANSWER_INPUT} answers it and continues the turn."
)
_LAST_SEQ = 2**62

ToolOutcome = types.CallToolResult | types.InputRequiredResult


class MCPTools:
    """The agents of `app` as MCP tools, on a low-level `mcp` server (`.server`) that any
    of the SDK's transports can serve. Turns run on tasks of `tasks`, so that a caller that
    goes away never interrupts one.

        tools = MCPTools(app, tasks=TurnTasks())
        await tools.server.run(read_stream, write_stream, tools.server.create_initialization_options())

    `identified=True` (a server with keys) refuses calls that carry no identity. Raises
    `ConfigurationError` for an agent named like a built-in tool.
    """

    def __init__(self, app: Threadline, *, tasks: TurnTasks, identified: bool = False) -> None:
        self.app = app
        self.tasks = tasks
        self._identified = identified
        agents = app.agents
        self._tools = catalog(agents.values())
        self._agents = frozenset(agents)
        self.server: Server[Any] = Server(
            "threadline",
            version=__version__,
            instructions=_INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=list(self._tools))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> ToolOutcome:
        call = _Call(ctx=ctx, identity=self._identity(ctx))
        if params.name not in self._agents and params.name not in BUILT_IN:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        try:
            if params.request_state is not None:
                return await self._reply(call, reply(params.request_state, params.input_responses))
            arguments = Arguments(params.name, params.arguments)
            if params.name == LIST_THREADS:
                return await self._list_threads(call, arguments)
            if params.name == READ_THREAD:
                return await self._read_thread(call, arguments)
            if params.name == ANSWER_APPROVAL:
                return await self._answer_approval(call, arguments)
            if params.name == ANSWER_INPUT:
                return await self._answer_input(call, arguments)
            return await self._ask_agent(call, params.name, arguments)
        except ThreadlineError as exc:
            return error_result(exc.message)
        except Exception as exc:
            log_failure(logger, "the MCP tool %s failed unexpectedly", params.name, exc=exc)
            return error_result("the call failed unexpectedly on the server")

    def _identity(self, ctx: ServerRequestContext[Any]) -> str | None:
        request = ctx.request
        identity = identity_of(request.scope) if isinstance(request, HTTPConnection) else None
        if identity is None and self._identified:
            raise MCPError(types.INVALID_REQUEST, "the request carries no API key")
        return identity

    # -- the tools ---------------------------------------------------------------------------

    async def _ask_agent(self, call: _Call, agent: str, arguments: Arguments) -> ToolOutcome:
        text = arguments.text("input")
        thread_id = arguments.optional_text("thread_id")
        arguments.done()
        normalize_input(text, None)  # bad input is refused before a thread is started
        if thread_id is None:
            thread = await self.app.threads.start(user_id=call.identity, agent=agent)
        else:
            thread = await owned_thread(self.app, call.identity, thread_id)
            if thread.record.agent != agent:
                raise InvalidInputError(
                    f"thread {thread_id!r} is a thread of the agent {thread.record.agent!r}: "
                    f"continue it with the {thread.record.agent} tool",
                    thread_id=thread_id,
                )
        return await self._drive(call, thread, thread.run_streamed(text))

    async def _list_threads(self, call: _Call, arguments: Arguments) -> ToolOutcome:
        limit = arguments.integer("limit", default=20, low=1, high=MAX_PAGE)
        cursor = arguments.optional_text("cursor")
        status = arguments.optional_text("status")
        arguments.done()
        page = await list_threads(
            self.app, call.identity, limit=limit, cursor=cursor, status=status
        )
        return data_result(page)

    async def _read_thread(self, call: _Call, arguments: Arguments) -> ToolOutcome:
        thread_id = arguments.text("thread_id")
        after_seq = arguments.integer("after_seq", default=0, low=0, high=_LAST_SEQ)
        limit = arguments.integer("limit", default=50, low=1, high=MAX_PAGE)
        arguments.done()
        thread = await owned_thread(self.app, call.identity, thread_id)
        data, text = await read_thread(thread, after_seq=after_seq, limit=limit)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=data)

    async def _answer_approval(self, call: _Call, arguments: Arguments) -> ToolOutcome:
        thread_id = arguments.text("thread_id")
        tool_call_id = arguments.text("tool_call_id")
        decision = arguments.choice("decision", ("approve", "deny"))
        reason = arguments.optional_text("reason")
        arguments.done()
        thread = await owned_thread(self.app, call.identity, thread_id)
        answer = Answer(tool_call_id=tool_call_id, approve=decision == "approve", reason=reason)
        await record(thread, Answers(approvals=[answer]), strict=True)
        return await self._continue(call, thread)

    async def _answer_input(self, call: _Call, arguments: Arguments) -> ToolOutcome:
        thread_id = arguments.text("thread_id")
        value = arguments.value("answer")
        arguments.done()
        thread = await owned_thread(self.app, call.identity, thread_id)
        await record(thread, Answers(choice=(value,)), strict=True)
        return await self._continue(call, thread)

    async def _reply(self, call: _Call, answered: Reply) -> ToolOutcome:
        """A call sent again with the answers its `InputRequiredResult` asked for."""
        thread = await owned_thread(self.app, call.identity, answered.thread_id)
        record_now = await thread.reload()
        if record_now.active_turn_id != answered.turn_id:
            return await self._stored(thread, answered.turn_id)  # answered in the meantime
        answers = answered.answers(await questions(thread))
        if not await record(thread, answers, strict=False):
            return await self._stored(thread, answered.turn_id)  # nobody answered anything
        return await self._continue(call, thread)

    # -- turns -------------------------------------------------------------------------------

    async def _continue(self, call: _Call, thread: Thread) -> ToolOutcome:
        """Continue the thread's paused turn once nothing it waits for is left unanswered."""
        record_now = await thread.reload()
        if record_now.active_turn_id is None:
            raise InvalidInputError("the thread has no paused turn", thread_id=thread.id)
        if await questions(thread):
            return await self._stored(thread, record_now.active_turn_id)
        return await self._drive(call, thread, thread.resume_turn_streamed())

    async def _drive(self, call: _Call, thread: Thread, stream: TurnStream) -> ToolOutcome:
        """Follow the turn to its end (reporting progress); when it pauses for a person, ask
        the client's user if the client can, and go on with the answers."""
        session = call.ctx.session
        while True:
            result = await self.tasks.drive(stream).follow(call.progress)
            if result.status != "paused":
                return turn_result(result, None)
            waiting = await questions(thread)
            if not waiting.forms() or not can_elicit(session):
                return turn_result(result, waiting)
            if not session.can_send_request:
                if call.ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    return input_required(thread.id, result.turn_id, waiting)
                return turn_result(result, waiting)
            await record(thread, await ask(session, call.ctx.request_id, waiting), strict=False)
            waiting = await questions(thread)
            if waiting:
                return turn_result(result, waiting)
            stream = thread.resume_turn_streamed()

    async def _stored(self, thread: Thread, turn_id: str) -> ToolOutcome:
        """The turn as the store has it now."""
        turn = await self.app.store.get_turn(turn_id)
        if turn is None or turn.thread_id != thread.id:
            raise NotFoundError(f"no turn {turn_id!r}", turn_id=turn_id)
        if turn.status in ("queued", "running"):
            return error_result(
                f"turn {turn_id!r} is {turn.status}: call {READ_THREAD} later to see its outcome"
            )
        items = [i for i in await thread.items() if i.turn_id == turn_id]
        result = TurnResult.build(turn, items, None)
        return turn_result(result, await questions(thread) if result.status == "paused" else None)


@dataclass(frozen=True, kw_only=True)
class _Call:
    """One `tools/call` request: who made it, and the session to report progress on."""

    ctx: ServerRequestContext[Any]
    identity: str | None

    async def progress(self, count: int, message: str) -> None:
        try:
            await self.ctx.session.report_progress(count, None, message)
        except Exception as exc:  # a client that went away misses its progress, nothing more
            logger.debug("an MCP progress notification failed: %s", type(exc).__name__)
