from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from threadline.models import ToolSpec
from threadline.store import ThreadUpdate
from threadline.types import (
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    Budget,
    ContentPart,
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    NotFoundError,
    Payload,
    SpanRecord,
    StepRecord,
    ThreadRecord,
    TimerRecord,
    ToolCall,
    TurnInProgressError,
    TurnRecord,
    check_metadata,
    part_from_dict,
)

from ._attachments import accept_attachments, has_files
from ._bus import DEFAULT_BUFFER, Subscription
from ._decisions import annotate, answer, decide, external_calls, submit_results
from ._engine import Engine
from ._engine_parts import (
    OnBusy,
    StartOptions,
    StartOutcome,
    TurnListener,
    external_tools,
)
from ._imports import check_history
from ._inbox import enqueue_parts
from ._input import TurnInput, normalize_input, parts_as_json
from ._result import TurnResult
from ._scheduling import ScheduledCall
from ._stream import TurnStream
from ._subagents import cancel_children, interrupt, live_pending
from ._termination import refuse_if_terminated
from ._thread_env import ThreadEnv
from ._thread_family import ThreadFamily
from ._thread_files import ThreadFiles
from ._thread_messages import ThreadMessages
from ._tracing import read_trace


class Thread(ThreadMessages, ThreadFiles, ThreadEnv, ThreadFamily):
    """A handle on one thread. Cheap to create; holds nothing but ids and a snapshot.

    thread = await app.threads.start(user_id="me")
    result = await thread.run("What's the weather in Paris?")
    """

    def __init__(self, engine: Engine, record: ThreadRecord) -> None:
        self._engine = engine
        self.record = record
        self._subscriptions: list[Subscription] = []

    def __repr__(self) -> str:
        return f"Thread({self.id!r}, agent={self.record.agent!r})"

    @property
    def id(self) -> str:
        return self.record.thread_id

    @property
    def user_id(self) -> str | None:
        return self.record.user_id

    async def reload(self) -> ThreadRecord:
        """Read the thread again from the store and return the fresh record."""
        record = await self._engine.store.get_thread(self.id)
        if record is None:
            raise NotFoundError(f"thread {self.id!r} no longer exists", thread_id=self.id)
        self.record = record
        return record

    # -- turns -------------------------------------------------------------------------------

    def run_streamed(
        self,
        input: TurnInput | None,
        *,
        sender: str | None = None,
        on_busy: OnBusy = "error",
        enqueue_if_busy: bool = False,
        client_key: str | None = None,
        budget: Budget | None = None,
        external_tools: Sequence[ToolSpec] = (),
        require_approval: Collection[str] = (),
        history: Sequence[Payload] = (),
    ) -> TurnStream:
        """Start a turn and stream its events; see `TurnStream` and `run`.

        Raises `InvalidInputError` at once for malformed input; the rest when iterated.
        """
        parts, sender = _checked(input, sender, history, "enqueue" if enqueue_if_busy else on_busy)
        options = StartOptions(
            sender=sender,
            client_key=client_key,
            budget=budget,
            on_busy="enqueue" if enqueue_if_busy else on_busy,
            external_tools=tuple(external_tools),
            require_approval=_tool_names(require_approval),
            history=tuple(history),
        )
        if options.require_approval and options.on_busy in ("enqueue", "steer"):
            # Queued input and steering join turns that were started with other options.
            raise InvalidInputError(
                "require_approval applies to the turn a run starts; it cannot be combined "
                "with on_busy='enqueue' or 'steer'"
            )
        return self._start_streamed(parts, options)

    def _start_streamed(
        self, parts: tuple[ContentPart, ...] | None, options: StartOptions
    ) -> TurnStream:
        def start(listener: TurnListener) -> Any:
            return self._engine.start_turn(self.id, parts, options, listener)

        return TurnStream(self._engine, start)

    async def run(
        self,
        input: TurnInput | None,
        *,
        sender: str | None = None,
        on_busy: OnBusy = "error",
        enqueue_if_busy: bool = False,
        client_key: str | None = None,
        budget: Budget | None = None,
        external_tools: Sequence[ToolSpec] = (),
        require_approval: Collection[str] = (),
        history: Sequence[Payload] = (),
    ) -> TurnResult:
        """Run one turn to its end (or its pause for a human) and return its result.

        Args:
            input: a string, a list of input parts, or `{"input": ..., "sender": ...}`.
            sender: who speaks, stored on the user item.
            on_busy: when a turn is unfinished: "error" raises `TurnInProgressError`;
                "enqueue" queues the input as its own next turn and returns that turn's
                result; "interrupt" cancels the unfinished turn first; "steer" adds the input
                to the running turn before its next model step and returns that turn's result.
            enqueue_if_busy: the same as `on_busy="enqueue"`.
            client_key: an idempotency key; repeating it returns the first turn's result.
            budget: limits for this turn, over the agent's.
            external_tools: tools the caller runs itself (`tl.ExternalTool`): when the model
                calls one, the turn pauses (`result.pending_external_calls`) until
                `submit_tool_results(...)`, then continues with `resume_turn()`.
            require_approval: names of the agent's tools (its MCP servers' included, as the
                model sees them) whose calls in this turn wait for a human's approval even
                where the agent's policy lets them run. It adds approvals; the ones the agent
                requires always apply.
            history: a conversation kept elsewhere until now (`UserMessage`, `AgentMessage`,
                and `ToolCall`s each answered by a later `ToolResult`), stored before the input
                in the transaction that starts the turn, outside any turn, followed by a
                system event of phase `IMPORTED_PHASE` that marks it as the caller's. A call
                id the thread holds already is stored under a fresh one. With `input=None`
                the turn answers the history as it stands (after tool results, say); so it
                does without history, after items were `append`ed.

        Raises `TurnFailedError`, `TurnCancelledError`, `TurnInProgressError`. Cancelling
        the awaiting task interrupts the turn.

            result = await thread.run("Book the flight", on_busy="enqueue")
            if result.status == "paused": print(result.pending_approvals)
        """
        return await _consume(
            self.run_streamed(
                input,
                sender=sender,
                on_busy=on_busy,
                enqueue_if_busy=enqueue_if_busy,
                client_key=client_key,
                budget=budget,
                external_tools=external_tools,
                require_approval=require_approval,
                history=history,
            )
        )

    # -- humans in the loop ------------------------------------------------------------------

    async def pending(self) -> list[ApprovalRequest | AwaitingInput | ToolCall]:
        """What the thread's paused turn waits for: approvals, choices, and the results of
        client-side tool calls; with the approvals and choices of the child threads it waits
        for (each naming its child's `thread_id`), which `approve`, `deny` and `answer` on
        this thread decide too."""
        record = await self.reload()
        if record.active_turn_id is None:
            return []
        turn = await self._engine.store.get_turn(record.active_turn_id)
        assert turn is not None
        items = [i for i in await self.items() if i.turn_id == record.active_turn_id]
        requests = await live_pending(self._engine, self.id)
        return [*requests, *external_calls(items, external_tools(turn))]

    async def submit_tool_results(
        self, outputs: Mapping[str, str], *, errors: Collection[str] = ()
    ) -> list[Item]:
        """Record results of client-side tool calls (`{tool_call_id: output}`; ids in
        `errors` are failed calls), from any process; continue with `resume_turn()`."""
        return await submit_results(self._engine, self.id, outputs, errors=errors)

    async def approve(
        self,
        tool_call_id: str,
        *,
        reason: str | None = None,
        always: bool = False,
        sender: str | None = None,
    ) -> ApprovalResponse:
        """Approve a pending tool call (from any process). `always` approves every later call
        of the same tool on this thread. Approving twice records one decision. Continue the
        turn with `resume_turn()`."""
        return await decide(
            self._engine,
            self.id,
            tool_call_id,
            "approved",
            reason=reason,
            always=always,
            sender=sender,
        )

    async def deny(
        self,
        tool_call_id: str,
        *,
        reason: str | None = None,
        always: bool = False,
        sender: str | None = None,
    ) -> ApprovalResponse:
        """Deny a pending tool call: the model receives a denial and nothing runs."""
        return await decide(
            self._engine,
            self.id,
            tool_call_id,
            "denied",
            reason=reason,
            always=always,
            sender=sender,
        )

    def resume_turn_streamed(self) -> TurnStream:
        """Continue the thread's paused turn in this process, streaming its events."""
        engine = self._engine

        async def start(listener: TurnListener) -> StartOutcome:
            record = await self.reload()
            refuse_if_terminated(record)
            if record.active_turn_id is None:
                raise InvalidInputError(
                    "the thread has no paused turn to resume", thread_id=self.id
                )
            if not engine.settings.run_turns:  # a worker continues it; follow its events
                await engine.store.wake(self.id)
                engine.follow(self.id, record.active_turn_id, record.last_event_seq, listener)
                return StartOutcome(kind="stored", turn_id=record.active_turn_id)
            active = await engine.continue_turn(self.id, record.active_turn_id, listener)
            if active is None:
                raise TurnInProgressError(
                    "the turn is running in another process", thread_id=self.id
                )
            return StartOutcome(kind="started", turn_id=record.active_turn_id)

        return TurnStream(engine, start)

    async def resume_turn(self) -> TurnResult:
        """Continue the thread's paused turn here, after approvals were decided."""
        return await _consume(self.resume_turn_streamed())

    async def answer(self, value: Any, *, sender: str | None = None) -> Item:
        """Record the answer to the choice a tool waits for (`await_choice`), from any
        process; continue the turn with `resume_turn()`. Raises `InvalidInputError`
        (changing nothing) if `value` does not fit the choice's schema."""
        return await answer(self._engine, self.id, value, sender=sender)

    async def resume(self, value: Any, *, sender: str | None = None) -> TurnResult:
        """`answer(value)`, then `resume_turn()`."""
        await self.answer(value, sender=sender)
        return await self.resume_turn()

    # -- scheduled effects -------------------------------------------------------------------

    async def schedule(
        self,
        effect: TurnInput | ScheduledCall,
        *,
        at: float | None = None,
        delay: float | None = None,
    ) -> TimerRecord:
        """Post input (or make a `ScheduledCall`) on this thread later, durably: at `at`
        (epoch seconds) or after `delay` seconds, fired once by whichever process runs
        recovery."""
        timer = self._engine.timer_for(self.id, effect, at=at, delay=delay)
        if timer.kind == "input":
            parts = tuple(part_from_dict(p) for p in timer.input)
            if has_files(parts):
                parts = await accept_attachments(self._engine.store, self.id, parts)
                timer = replace(timer, input=parts_as_json(parts))
        return await self._engine.store.schedule_timer(timer)

    async def scheduled(self) -> list[TimerRecord]:
        """Pending scheduled effects, soonest first."""
        return await self._engine.store.list_timers(self.id)

    async def cancel_scheduled(self, timer_id: str) -> bool:
        return await self._engine.store.cancel_timer(self.id, timer_id)

    async def enqueue(
        self, input: TurnInput, *, sender: str | None = None, client_key: str | None = None
    ) -> InboxEntry:
        """Queue input for its own turn after the running one (at once if the thread is
        idle). Accepted input is stored before this returns."""
        parts, sender = normalize_input(input, sender)
        entry = await enqueue_parts(
            self._engine, self.id, parts, sender=sender, client_key=client_key, kind="input"
        )
        self._engine.spawn(self._engine.drain(self.id))
        return entry

    async def interrupt(self) -> bool:
        """Cancel the unfinished turn (running here, elsewhere, or paused), keeping what it
        produced, and then the unfinished turns of the child threads it started. False if
        there was none."""
        return await interrupt(self._engine, self.id)

    async def turns(self) -> list[TurnRecord]:
        return await self._engine.store.list_turns(self.id)

    async def steps(self, turn_id: str) -> list[StepRecord]:
        """The steps of one of this thread's turns, oldest first: each model call and each
        tool batch, with its status, timings, usage and the items it produced. A turn this
        thread does not have gives an empty list, as `turns()` lists no turn of another.

            steps = await thread.steps(result.turn_id)
            print([(s.kind, s.status) for s in steps])  # [("model", "completed"), ...]
        """
        return await self._engine.store.list_steps(self.id, turn_id)

    async def trace(self, turn_id: str) -> list[SpanRecord]:
        """The trace spans of one of this thread's turns, each after its parent (siblings by
        start): `thread.run` (the turn),
        a `thread.execution` per process that ran it, a `thread.step` per model call or tool
        batch, and their `thread.llm` and `thread.tool` spans. A turn this thread does not
        have, one traced by nobody (`tracing=False`) and one past trace retention give an
        empty list.

            spans = await thread.trace(result.turn_id)
            print([s.name for s in spans])  # ["thread.run", "thread.execution", ...]
        """
        engine = self._engine
        return await read_trace(
            engine.store, self.id, turn_id, content=engine.settings.tracing.content
        )

    async def inbox(self) -> list[InboxEntry]:
        return await self._engine.store.list_inbox(self.id)

    # -- editing the history ----------------------------------------------------------------

    async def append(self, items: Sequence[Payload]) -> list[Item]:
        """Add items to the history outside any turn (a conversation imported from
        elsewhere, items a client adds), in one transaction. Raises `TurnInProgressError`
        while a turn is unfinished.

            await thread.append([UserMessage(content=(TextPart(text="Hi"),)),
                                 AgentMessage(text="Hello")])
        """
        from ._history_edits import append_items

        return await append_items(self._engine, self.id, items)

    async def rollback(self, turns: int = 1) -> ThreadRecord:
        """Take the last `turns` finished turns out of the history the model sees (the
        stored log keeps them). Raises `TurnInProgressError` while a turn is unfinished,
        `InvalidInputError` if there are not that many turns."""
        from ._history_edits import rollback

        await rollback(self._engine, self.id, turns)
        return await self.reload()

    async def delete_item(self, item_id: str) -> bool:
        """Take an item out of the history: the model no longer sees it (the stored log keeps
        it, with a `deleted` system event). False if there is no such item."""
        from ._history_edits import delete_item

        return await delete_item(self._engine, self.id, item_id)

    # -- reading -----------------------------------------------------------------------------

    async def items(self, *, after_seq: int = 0, limit: int | None = None) -> list[Item]:
        """The stored history, oldest first."""
        return await self._engine.store.load_items(self.id, after_seq=after_seq, limit=limit)

    async def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        """The stored event log after `after_seq` (deltas coalesced)."""
        return await self._engine.store.load_events(self.id, after_seq=after_seq, limit=limit)

    def subscribe(self, *, buffer: int = DEFAULT_BUFFER) -> Subscription:
        """Receive every event of this thread from now on, including turns this handle did
        not start (a queued input, another handle). A reader more than `buffer` events
        behind is dropped (`overflowed`). The subscription is an async iterator, awaitable
        and an async context manager that closes it.

            events = await thread.subscribe()
            async for event in events: ...
        """
        subscription = self._engine.bus.subscribe(self.id, buffer)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self) -> asyncio.Future[None]:
        """End every subscription made through this handle, at once; their iterations end
        after the events already received. Awaiting the result is optional.

            await thread.unsubscribe()
        """
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    # -- changing ----------------------------------------------------------------------------

    async def set_mode(self, mode: str | None) -> ThreadRecord:
        """Switch the agent mode (its instructions and tools) from the next turn on."""
        self._engine.agent(self.record.agent).resolve_mode(mode)
        self.record = await self._engine.store.update_thread(self.id, ThreadUpdate(mode=mode))
        return self.record

    async def archive(self) -> ThreadRecord:
        """Close the thread to new input and hide it from default listings."""
        self._refuse_if_running("archive")
        self.record = await self._engine.store.update_thread(
            self.id, ThreadUpdate(status="archived")
        )
        return self.record

    async def unarchive(self) -> ThreadRecord:
        self.record = await self._engine.store.update_thread(self.id, ThreadUpdate(status="idle"))
        return self.record

    async def delete(self) -> bool:
        """Delete the thread, its child threads (their unfinished turns interrupted first) and
        everything stored for them."""
        self._refuse_if_running("delete")
        await cancel_children(self._engine, self.id)
        await self.unsubscribe()
        self._engine.history.drop(self.id)
        return await self._engine.store.delete_thread(self.id)

    async def set_metadata(self, metadata: dict[str, Any]) -> ThreadRecord:
        check_metadata(metadata)
        self.record = await self._engine.store.update_thread(
            self.id, ThreadUpdate(metadata=metadata)
        )
        return self.record

    def _refuse_if_running(self, action: str) -> None:
        if self.id in self._engine.active:
            raise TurnInProgressError(
                f"cannot {action} a thread while a turn runs on it; interrupt() it first",
                thread_id=self.id,
            )


def run_with_options(thread: Thread, input: TurnInput | None, options: StartOptions) -> TurnStream:
    """`thread.run_streamed(input)` with options that the public method does not take (model
    settings for the turn, the caller's annotations): the wire servers' way to start a
    turn. Raises `InvalidInputError` at once for malformed input."""
    parts, sender = _checked(input, options.sender, options.history, options.on_busy)
    return thread._start_streamed(parts, replace(options, sender=sender))  # pyright: ignore[reportPrivateUsage]


def _checked(
    input: TurnInput | None, sender: str | None, history: Sequence[Payload], on_busy: str
) -> tuple[tuple[ContentPart, ...] | None, str | None]:
    """The input's parts (None: the turn answers the history) and sender, once the input, the
    history and `on_busy` are known to go together. Raises `InvalidInputError`."""
    parts: tuple[ContentPart, ...] | None = None
    if input is not None:
        parts, sender = normalize_input(input, sender)
    _check_on_busy(on_busy)
    check_history(history)
    if (history or parts is None) and on_busy in ("enqueue", "steer"):
        raise InvalidInputError(
            "a turn with history, or without input, starts from the thread as it is then: "
            "it cannot be queued or steered into a running turn (use on_busy='error' or "
            "'interrupt')"
        )
    return parts, sender


async def annotate_paused_turn(
    thread: Thread, turn_id: str, annotations: Mapping[str, Any]
) -> None:
    """Replace the annotations stored with the thread's paused turn `turn_id` (see
    `StartOptions.annotations`). Raises `InvalidInputError` if that turn is not paused,
    `TurnInProgressError` if it runs."""
    await annotate(thread._engine, thread.id, turn_id, annotations)  # pyright: ignore[reportPrivateUsage]


def _check_on_busy(on_busy: str) -> None:
    if on_busy not in ("error", "enqueue", "interrupt", "steer"):
        raise InvalidInputError("on_busy must be 'error', 'enqueue', 'interrupt' or 'steer'")


async def _consume(stream: TurnStream) -> TurnResult:
    async for _ in stream:
        pass
    return stream.result


def _tool_names(names: Collection[str]) -> frozenset[str]:
    # A lone string is a collection of its letters: refuse it rather than approve "t", "o"...
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise InvalidInputError("require_approval must be a collection of tool names")
    return frozenset(names)
