"""One batch of tool calls, moved through their states:
requested → (awaiting_approval → approved/denied) → started → succeeded/failed/unknown."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any

from threadline.store import FileOp, ToolCallState
from threadline.tools import FileChanges, StoredFiles, ThreadState, Tool, ToolOutput
from threadline.types import (
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    Item,
    StepRecord,
    Subagent,
    TimerRecord,
    ToolCall,
    ToolOutcome,
    ToolResult,
    Usage,
    approval_requested_params,
    approval_resolved_params,
)

from ._approvals import CallRecord, arguments_hash, call_records, caller_approvals
from ._context import NewItem, Trailing, TurnContext, new_item
from ._env import BoundEnvironment, agent_layers
from ._history import result_item_id
from ._model_step import step_tools
from ._steps import OpenStep
from ._subagents import blocked_children, continue_children, subagent_request_id
from ._tool_calls import ToolCallsFromTools, close_nested_calls, follow_ups
from ._tool_code import CodeRunServices
from ._tool_family import ChildThreadServices
from ._tool_messages import ToolMessageServices, staged_messages

_NO_VALUE: Any = object()


@dataclass(eq=False)
class Invocation:
    """A tool call being executed. While it waits for a human's choice it stays suspended here
    (not re-run) until the answer is delivered."""

    call: ToolCall
    tool: Tool
    result_id: str  # `result_item_id` of the call's item: the same in every process
    context: ThreadState[Any] | None = None
    task: asyncio.Task[ToolOutput] | None = None
    preset_choice: Any = _NO_VALUE
    choice: asyncio.Future[Any] | None = None
    prompt: str = ""
    schema: dict[str, Any] = field(default_factory=dict[str, Any])
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    step: ToolStep | None = None  # the step waiting on it now; a resumed call changes steps
    # The call's changes to the thread's files, made on first use. A tool it invokes shares
    # them: they are stored with this call's result, or not at all.
    files: FileChanges | None = None

    def file_changes(self, ctx: TurnContext) -> FileChanges:
        """The call's changes to the thread's files (made now if needed): hand them to a
        tool this call invokes, so that they are stored with this call's result."""
        if self.files is None:
            quota = ctx.services.settings.file_quota_bytes if ctx.services is not None else None
            self.files = FileChanges(
                StoredFiles(ctx.store, ctx.thread.thread_id, quota), settle=ctx.flush
            )
        return self.files

    staged: list[NewItem] = field(default_factory=list[NewItem])  # stored with its result
    # The child threads the call waits for while they wait for a human, by thread id, and
    # what to store about each; the tokens and cost of the children it waited for.
    child_waits: dict[str, asyncio.Future[None]] = field(
        default_factory=dict[str, "asyncio.Future[None]"]
    )
    waiting: dict[str, Subagent] = field(default_factory=dict[str, Subagent])
    subagent_usage: Usage = field(default_factory=Usage)
    services: _Services | None = None

    def notify(self) -> None:
        self.settled.set()
        if self.step is not None:
            self.step.changed.set()

    @property
    def suspended(self) -> bool:
        if self.task is not None and self.task.done():
            return False
        if self.choice is not None and not self.choice.done():
            return True
        return any(not f.done() for f in self.child_waits.values())

    def deliver(self, value: Any) -> None:
        """Go on after a pause: with the human's answer to its choice, or (`_NO_VALUE`) to
        look at the children it waits for again."""
        self.settled.clear()
        if value is not _NO_VALUE and self.choice is not None and not self.choice.done():
            self.choice.set_result(value)
        for waiting in self.child_waits.values():
            if not waiting.done():
                waiting.set_result(None)


class _Services(ToolMessageServices, ToolCallsFromTools, ChildThreadServices, CodeRunServices):
    """The services a tool's `ThreadState` uses, bound to one invocation."""

    _invocation: Invocation

    def __init__(self, ctx: TurnContext, invocation: Invocation) -> None:
        self._ctx = ctx
        self._invocation = invocation
        invocation.services = self

    def resumed_in(self, ctx: TurnContext) -> None:
        """A call resumed after a pause continues in the turn context that resumed it."""
        self._ctx = ctx

    async def await_choice(self, tool_call_id: str, prompt: str, schema: dict[str, Any]) -> Any:
        invocation = self._invocation
        if invocation.preset_choice is not _NO_VALUE:
            value, invocation.preset_choice = invocation.preset_choice, _NO_VALUE
            return value
        invocation.prompt, invocation.schema = prompt, schema
        invocation.choice = asyncio.get_running_loop().create_future()
        invocation.notify()
        return await invocation.choice

    def schedule_effect(self, effect: Any, *, at: float | None, delay: float | None) -> TimerRecord:
        return self._ctx.services.timer_for(self._ctx.thread.thread_id, effect, at=at, delay=delay)

    async def scheduled_effects(self) -> list[TimerRecord]:
        return await self._ctx.store.list_timers(self._ctx.thread.thread_id)

    @property
    def files(self) -> FileChanges:
        return self._invocation.file_changes(self._ctx)

    def environment(self) -> BoundEnvironment:
        ctx = self._ctx
        return BoundEnvironment(ctx.services.env, ctx.thread, agent_layers(ctx.agent))


def _result(call: ToolCall, output: str, outcome: ToolOutcome, item_id: str) -> NewItem:
    payload = ToolResult(
        tool_call_id=call.tool_call_id, name=call.name, output=output, outcome=outcome
    )
    return NewItem(item_id=item_id, payload=payload)


_STATE_OF: dict[str, ToolCallState] = {
    "success": "succeeded",
    "error": "failed",
    "denied": "denied",
    "unknown": "unknown",
    "cancelled": "failed",
}


class ToolStep:
    """Runs what may run, answers what must not, and pauses for what needs a human."""

    def __init__(self, ctx: TurnContext, calls: list[Item], *, fresh: bool) -> None:
        self.ctx = ctx
        self.calls = calls
        self.fresh = fresh  # the calls were just made by this process: none has started
        self._invocations: list[Invocation] = []
        self._announcements: list[Trailing] = []
        self.changed = asyncio.Event()
        self._state_changed = False
        self.step: OpenStep | None = None  # its record, once it has started
        self.stored: StepRecord | None = None  # the record its last write stored

    async def run(self) -> bool:
        """Returns True when the turn paused for a human."""
        ctx = self.ctx
        step = self.step = await ctx.step_log.open("tools")
        if not step.data:  # a continued batch keeps the names of all its calls
            step.data = {
                "tools": [c.payload.name for c in self.calls if isinstance(c.payload, ToolCall)]
            }
        tools = step_tools(ctx)
        states: dict[str, ToolCallState] = (
            {}
            if self.fresh
            else (await ctx.store.load_tool_states(ctx.thread.thread_id, ctx.turn.turn_id))
        )
        records = call_records(ctx.turn_items())
        # A caller may ask to approve more than the agent's policy does, never less.
        caller_approved = caller_approvals(ctx.turn)
        standing = ctx.indexed.standing
        state_value = ctx.typed_state()
        immediate: list[NewItem] = []
        asks: list[NewItem] = []
        new_states: dict[str, ToolCallState] = {}
        to_run: list[Invocation] = []
        to_resume: list[tuple[Invocation, Any]] = []
        pending = False
        wake_at: list[float] = []
        now = time.time()
        for call_item in self.calls:
            call = call_item.payload
            result_id = result_item_id(call_item.item_id)
            assert isinstance(call, ToolCall)
            record = records.get(call.tool_call_id, CallRecord())
            tool = tools.get(call.name)
            if tool is None and call.name in ctx.external_tools:
                # The caller runs it and submits the result; until then the turn waits.
                new_states[call.tool_call_id] = "external"
                pending = True
                continue
            if tool is None:
                immediate.append(
                    _result(
                        call,
                        f"Error: there is no tool named {call.name!r}; "
                        f"available: {', '.join(sorted(tools)) or 'none'}.",
                        "error",
                        result_id,
                    )
                )
                continue
            if record.waits and record.awaiting is None:  # the tool waits for children
                key = (ctx.thread.thread_id, call.tool_call_id)
                blocked = await blocked_children(ctx.services, record.waits)
                all_blocked = len(blocked) == len(record.waits)
                held = None if all_blocked else ctx.services.suspended.pop(key, None)
                if all_blocked:
                    pending = True  # each still waits for a human
                elif held is not None:
                    to_resume.append((held, _NO_VALUE))
                elif tool.idempotent:  # run again, it finds the children it started
                    to_run.append(Invocation(call=call, tool=tool, result_id=result_id))
                else:
                    outcome = await continue_children(ctx.services, record.waits, blocked)
                    if outcome is None:
                        pending = True  # they go on; each one's end wakes this turn
                    else:
                        immediate.append(
                            _result(
                                call,
                                "Error: the outcome is unknown: the tool was cut off while "
                                "waiting for its subagents and was not run again. " + outcome,
                                "unknown",
                                result_id,
                            )
                        )
                continue
            if record.awaiting is not None:  # the tool paused for a human's choice
                if record.answer is None:
                    pending = True
                    continue
                held = ctx.services.suspended.pop((ctx.thread.thread_id, call.tool_call_id), None)
                if held is not None:
                    to_resume.append((held, record.answer.value))
                elif tool.idempotent:
                    to_run.append(
                        Invocation(
                            call=call,
                            tool=tool,
                            result_id=result_id,
                            preset_choice=record.answer.value,
                        )
                    )
                else:
                    immediate.append(
                        _result(
                            call,
                            "Error: the outcome is unknown: the tool was cut off while "
                            "waiting for input and was not run again. The answer given was: "
                            f"{record.answer.value!r}.",
                            "unknown",
                            result_id,
                        )
                    )
                continue
            if states.get(call.tool_call_id) == "started":
                # The call was cut off by a crash or a hand-over.
                if tool.idempotent:
                    to_run.append(Invocation(call=call, tool=tool, result_id=result_id))
                    continue
                if ctx.agent.on_unknown == "pause" and not (
                    record.response is not None and record.response.decision == "denied"
                ):
                    if record.response is not None:
                        to_run.append(Invocation(call=call, tool=tool, result_id=result_id))
                    elif record.request is None:
                        asks.append(
                            self._ask(
                                call,
                                "the outcome of this call is unknown after "
                                "an interruption: approve to run it again, deny "
                                "to report it as unknown",
                                None,
                            )
                        )
                        pending = True
                    else:
                        pending = True
                    continue
                immediate.append(
                    _result(
                        call,
                        "Error: the outcome of this call is unknown: it was interrupted and "
                        "may or may not have taken effect. It was not run again.",
                        "unknown",
                        result_id,
                    )
                )
                continue
            if call.name in caller_approved or tool.needs_approval(call.arguments, state_value):
                decision = record.response or standing.get(call.name)
                if decision is not None and decision.decision == "approved":
                    if record.request is not None and (
                        record.request.arguments_hash != arguments_hash(call.arguments)
                    ):
                        immediate.append(
                            _result(
                                call,
                                "Error: the approval does not match "
                                "these arguments; nothing was run.",
                                "denied",
                                result_id,
                            )
                        )
                    else:
                        to_run.append(Invocation(call=call, tool=tool, result_id=result_id))
                elif decision is not None:
                    reason = f": {decision.reason}" if decision.reason else ""
                    immediate.append(
                        _result(
                            call,
                            f"Error: a human denied this call{reason}. It was not run.",
                            "denied",
                            result_id,
                        )
                    )
                elif record.request is not None:
                    expires_at = record.request.expires_at
                    if expires_at is not None and expires_at <= now:
                        immediate.extend(self._expire(call, result_id))
                    else:
                        pending = True
                        if expires_at is not None:
                            wake_at.append(expires_at)
                else:
                    expires_after = ctx.agent.approval_expires_after
                    expires_at = now + expires_after if expires_after is not None else None
                    asks.append(self._ask(call, None, expires_at))
                    new_states[call.tool_call_id] = "awaiting_approval"
                    pending = True
                    if expires_at is not None:
                        wake_at.append(expires_at)
                continue
            to_run.append(Invocation(call=call, tool=tool, result_id=result_id))

        marks = {i.call.tool_call_id: "started" for i in to_run if not i.tool.idempotent}
        if marks:
            await ctx.commit([], tool_states=marks)  # type: ignore[arg-type]
            await ctx.fault("after_tool_started")
        invocations = self._invocations = [*to_run, *(held for held, _ in to_resume)]
        for invocation in invocations:
            invocation.step = self
            if invocation.services is not None:
                invocation.services.resumed_in(ctx)
        for invocation in to_run:
            self._start(invocation, state_value)
        for held, value in to_resume:
            held.deliver(value)
        await self._settle(invocations)

        results: list[NewItem] = []
        for invocation in invocations:
            call = invocation.call
            if invocation.suspended:
                pending = True
                key = (ctx.thread.thread_id, call.tool_call_id)
                ctx.services.suspended[key] = invocation
                record = records.get(call.tool_call_id, CallRecord())
                asks += self._waits_changed(invocation, record)
                choosing = invocation.choice is not None and not invocation.choice.done()
                if choosing and record.awaiting is None:
                    question = AwaitingInput(
                        tool_call_id=call.tool_call_id,
                        prompt=invocation.prompt,
                        schema=invocation.schema,
                    )
                    asks.append(new_item(question))
                    self._announce(asks[-1], question)
                continue
            assert invocation.task is not None
            output = invocation.task.result()
            results.append(_result(call, output.output, output.outcome, invocation.result_id))
            ctx.subagent_usage = ctx.subagent_usage + invocation.subagent_usage
            context = invocation.context
            if context is not None and context.state_changed:
                ctx.state = context.state_as_json()
                self._state_changed = True
        timers = [
            t
            for i in invocations
            if i.context is not None and not i.suspended
            for t in i.context.scheduled
        ]
        files = [op for i in invocations if not i.suspended for op in stored_changes(i)]
        done = [*immediate, *results]
        # Calls made by tools that are left open end with their callers' results.
        answered = [i.payload for i in done if isinstance(i.payload, ToolResult)]
        done += close_nested_calls(
            ctx,
            {p.tool_call_id: p.outcome for p in answered},
            "the calling tool ended before this call finished.",
        )
        followed = follow_ups([i.context for i in invocations if not i.suspended])
        for queued in followed.items:
            if isinstance(queued.payload, ToolCall):  # announced as a model's call is
                ctx.item_started(queued.item_id, queued.payload)
        for item in done:
            payload = item.payload
            if isinstance(payload, ToolResult):
                new_states[payload.tool_call_id] = _STATE_OF[payload.outcome]
        if invocations:
            await ctx.fault("before_tool_commit")
        extra: dict[str, Any] = {"state": ctx.state} if self._state_changed else {}
        if pending and ctx.thread.status == "terminated":
            pending = False  # a tool ended the thread: the turn ends after this step
        if pending:
            extra |= {
                "turn_status": "awaiting_approval",
                "end": "pause",
                "wake_after": max(0.0, min(wake_at) - time.time()) if wake_at else None,
            }
        finished = [i for i in invocations if not i.suspended]
        stored = [*done, *staged_messages(ctx, finished), *followed.items, *asks]
        spent = sum((i.subagent_usage for i in finished), Usage())
        self.stored = step.record(
            "paused" if pending else "completed", [i.item_id for i in stored], usage=spent
        )
        await ctx.commit(
            stored,
            tool_states=new_states | followed.tool_states,
            timers=timers,
            files=files,
            trailing=[*self._announcements, *followed.trailing],
            steps=[self.stored],
            wait=pending,
            **extra,
        )
        for invocation in invocations:
            if invocation.files is not None and not invocation.suspended:
                invocation.files.mark_stored()
        await ctx.fault("after_approval_request" if pending else "after_tool_result")
        return pending

    def _ask(self, call: ToolCall, reason: str | None, expires_at: float | None) -> NewItem:
        request = ApprovalRequest(
            tool_call_id=call.tool_call_id,
            name=call.name,
            arguments=call.arguments,
            arguments_hash=arguments_hash(call.arguments),
            reason=reason,
            expires_at=expires_at,
        )
        item = new_item(request)
        self._announce(item, request)
        return item

    def _announce(self, item: NewItem, request: ApprovalRequest | AwaitingInput) -> None:
        params = approval_requested_params(request)
        self._announcements.append(("approval_requested", params, item.item_id))

    def _waits_changed(self, invocation: Invocation, record: CallRecord) -> list[NewItem]:
        """The `subagent` items a pause stores: each child the call now waits for whose
        requests changed, and an empty one for each it no longer waits for."""
        waiting = {
            t: invocation.waiting[t] for t, f in invocation.child_waits.items() if not f.done()
        }
        changed: list[NewItem] = []
        for thread_id, wait in waiting.items():
            stored = record.waits.get(thread_id)
            if stored is None or stored.pending != wait.pending:
                changed.append(new_item(wait))
                self._announce_delegated(changed[-1], wait)
        for thread_id, stored in record.waits.items():
            if thread_id not in waiting and stored.pending:
                changed.append(new_item(replace(stored, pending=())))
        return changed

    def _announce_delegated(self, item: NewItem, wait: Subagent) -> None:
        """The requests of a child the call waits for are this turn's to announce too: a
        client of the parent answers them (each under `subagent_request_id`)."""
        for number, request in enumerate(wait.pending):
            params = approval_requested_params(request)
            self._announcements.append(
                ("approval_requested", params, subagent_request_id(item.item_id, number))
            )

    def _expire(self, call: ToolCall, result_id: str) -> list[NewItem]:
        response = ApprovalResponse(
            tool_call_id=call.tool_call_id, decision="denied", reason="expired"
        )
        self.ctx.events.emit(
            "approval_resolved", params=approval_resolved_params(response, expired=True)
        )
        return [
            new_item(response),
            _result(
                call,
                "Error: the approval request expired and was denied. It was not run.",
                "denied",
                result_id,
            ),
        ]

    def _start(self, invocation: Invocation, state_value: Any) -> None:
        ctx = self.ctx
        call = invocation.call
        ctx.item_started(
            invocation.result_id,
            ToolResult(tool_call_id=call.tool_call_id, name=call.name, output=""),
            streams=True,
        )
        if invocation.tool.context_parameter is not None:
            invocation.context = ctx.tool_state(
                call.tool_call_id, state_value, _Services(ctx, invocation)
            )

        async def execute() -> ToolOutput:
            try:
                await ctx.fault("inside_tool")
                return await invocation.tool.invoke(call.arguments, invocation.context)
            finally:
                invocation.notify()

        invocation.task = asyncio.get_running_loop().create_task(execute())

    async def _settle(self, invocations: list[Invocation]) -> None:
        """Wait until every invocation has finished or is waiting for a human."""
        try:
            while not all(i.settled.is_set() for i in invocations):
                self.changed.clear()
                if all(i.settled.is_set() for i in invocations):
                    break
                await self.changed.wait()
        except asyncio.CancelledError:
            for invocation in invocations:
                if invocation.task is not None:
                    invocation.task.cancel()
            raise

    def finished_file_changes(self) -> list[FileOp]:
        """The file changes of the calls that finished before the step was cut off, to be
        stored with their results."""
        return [op for i in self._invocations for op in stored_changes(i)]

    def finished_results(self) -> list[NewItem]:
        """Results of the calls that finished before the step was cut off."""
        done: list[NewItem] = []
        for invocation in self._invocations:
            task = invocation.task
            if (
                task is not None
                and task.done()
                and not task.cancelled()
                and (task.exception() is None)
            ):
                output = task.result()
                done.append(
                    _result(invocation.call, output.output, output.outcome, invocation.result_id)
                )
        return done


def stored_changes(invocation: Invocation) -> list[FileOp]:
    """The file changes to store with a finished call's result: all of them if the tool
    returned, none if it raised (its changes are dropped, as a failed transaction's are)."""
    task = invocation.task
    if invocation.files is None or task is None or not task.done() or task.cancelled():
        return []
    if task.exception() is not None or task.result().outcome != "success":
        return []
    return invocation.files.pending()
