from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel

from threadline._redaction import redact, secrets_registered
from threadline.models import AttachedFile, Model, ToolSpec
from threadline.store import FileOp, Store, ThreadCursor, ToolCallState, TurnWrite, Written
from threadline.tools import ThreadState, ThreadView, Tool, ToolServices
from threadline.types import (
    Budget,
    EventType,
    Item,
    ItemStatus,
    Payload,
    StepRecord,
    ThreadRecord,
    TimerRecord,
    TurnRecord,
    TurnStatus,
    Usage,
    item_completed_params,
    item_started_params,
    new_id,
)

from ._agent import Agent
from ._context_window import ContextWindow
from ._faults import FaultHook, FaultPoint
from ._history import HistoryIndex
from ._observer import ActiveMemory
from ._output import OutputSpec
from ._steps import StepLog
from ._tracing import TurnTrace
from ._turn_events import TurnEvents
from ._turn_settings import TurnSettings

_UNSET: Any = object()
SUBAGENT_USAGE = "subagent_usage"  # the turn option that sums its children's usage
Trailing = tuple[EventType, dict[str, Any], str | None]
"""An event emitted after the committed items' `item_completed` events."""


@dataclass(kw_only=True, slots=True)
class NewItem:
    """An item whose id is known (events name it) but whose seq is given at commit."""

    item_id: str
    payload: Payload
    status: ItemStatus = "completed"


@dataclass(kw_only=True)
class TurnContext:
    """Everything one turn works with. It owns the thread's cursor while the turn runs."""

    store: Store
    thread: ThreadRecord
    turn: TurnRecord
    agent: Agent
    model: Model | None  # None where the context only records a human's decision
    budget: Budget
    events: TurnEvents
    history: list[Item]
    last_item_seq: int
    epoch: int
    external_tools: dict[str, ToolSpec] = field(default_factory=dict[str, ToolSpec])
    # The tools the agent's tool sources (MCP servers) add, as listed before the step.
    source_tools: dict[str, Tool] = field(default_factory=dict[str, Tool])
    settings: TurnSettings = field(default_factory=TurnSettings)  # the turn's, over the agent's
    output_spec: OutputSpec | None = field(init=False, default=None)  # what the answer must match
    context_window: ContextWindow | None = None
    memory: ActiveMemory | None = None  # the thread's observational memory, once read
    usage: Usage = field(default_factory=Usage)
    # The tokens and cost of the children the turn waited for (or saw end), over all of
    # them; stored with the turn as the option `subagent_usage` by the next commit.
    subagent_usage: Usage = field(default_factory=Usage)
    # The reference ids of the children being stored now (`spawn`): counted against the
    # turn's limit already.
    spawning: set[str | None] = field(default_factory=set[str | None])
    steps: int = 0
    state: dict[str, Any] | None = None
    repairs: int = 0
    output: Any = None
    faults: FaultHook | None = None
    lease_lost: bool = False
    services: Any = None  # the engine's services for tools (choices, timers)
    failed: BaseException | None = None  # a write that was not waited for failed
    written: Written | None = None  # what the latest finished write found
    _writing: asyncio.Future[Written] | None = None  # the last write submitted
    _waited: asyncio.Future[Written] | None = None  # the write a caller awaits itself
    _turn_start: int | None = None
    _usage_stored: Usage = field(init=False, default_factory=Usage)
    index: HistoryIndex | None = None  # built from `history` when not given
    segment_start: float | None = None  # monotonic time this process began running the
    # turn; None where the context only records a human's decision (no running time)
    ending: bool = False  # the write that ends or pauses the turn (and frees its lease) was
    # submitted: that write, not the heartbeat, says whether the lease was still held
    attachments: dict[str, AttachedFile | None] = field(
        default_factory=dict[str, AttachedFile | None]
    )  # files the inputs attach, as loaded for the turn's requests; None: not available
    first_step: int | None = None  # the number of the turn's next step, if known without
    # reading its stored steps (0 for a turn that has just started)
    step_log: StepLog = field(init=False)
    trace: TurnTrace | None = None  # the spans this process makes for the turn

    def __post_init__(self) -> None:
        self.step_log = StepLog(
            self.store, self.thread.thread_id, self.turn.turn_id, self.first_step
        )
        self.output_spec = self.settings.output_spec() or self.agent.output
        if self.index is None:
            self.index = HistoryIndex(self.history)
        self._stored = ThreadCursor(
            last_item_seq=self.last_item_seq, last_event_seq=self.events.last_seq
        )
        self._ran_before = self.turn.running_seconds  # the segments before this one
        self.subagent_usage = self._usage_stored = Usage.from_dict(
            self.turn.options.get(SUBAGENT_USAGE)
        )

    async def fault(self, point: FaultPoint) -> None:
        if self.faults is not None:
            await self.flush()  # a fault point means "after what came before is durable"
            await self.faults.hit(point)

    async def flush(self) -> None:
        """Wait until every write submitted so far is durable; raise if one failed."""
        if self._writing is not None:
            await _settle(self._writing)
        if self.failed is not None:
            raise self.failed

    def running_seconds(self) -> float:
        """The turn's running time: its stored segments plus this one so far."""
        if self.segment_start is None:
            return self.turn.running_seconds
        return self._ran_before + time.monotonic() - self.segment_start

    def item_started(self, item_id: str, payload: Payload, *, streams: bool = False) -> None:
        """Announce an item; `streams`: its content follows (deltas, or a tool's result)."""
        self.events.emit(
            "item_started",
            item_id=item_id,
            params=item_started_params(item_id, payload, streams=streams),
        )

    async def commit(
        self,
        new_items: Sequence[NewItem],
        *,
        turn_status: TurnStatus | None = None,
        end: Literal["release", "pause"] | None = None,
        error: dict[str, Any] | None = None,
        state: Any = _UNSET,
        trailing: Sequence[Trailing] = (),
        tool_states: Mapping[str, ToolCallState] | None = None,
        wake_after: float | None = None,
        consume_inbox: Sequence[str] = (),
        timers: Sequence[TimerRecord] = (),
        options: dict[str, Any] | None = None,
        files: Sequence[FileOp] = (),
        steps: Sequence[StepRecord] = (),
        wait: bool = True,
    ) -> list[Item]:
        """Write new items (numbered now), their `item_completed` events, the `trailing`
        events, the counters, and everything emitted since the last commit, in one
        transaction.

        With `wait=False` the write is only submitted, when the store keeps its writes in
        submission order: the turn goes on while it becomes durable, and the next waited
        write (or `flush()`) vouches for it. Each write names the cursor it expects, so a
        write after a failed one is refused rather than leaving a gap.
        """
        if self.failed is not None:
            raise self.failed
        if self.subagent_usage != self._usage_stored:
            base = self.turn.options if options is None else options
            options = {**base, SUBAGENT_USAGE: self.subagent_usage.to_dict()}
            self._usage_stored = self.subagent_usage
        if secrets_registered():  # no secret value is stored, nor read back by the model
            error, timers = redact(error), redact(timers)
            if state is not _UNSET:
                state = self.state = redact(state)
        if self.trace is not None:
            options = (
                self.trace.options(self.turn.options if options is None else options) or options
            )
        now = time.time()
        items: list[Item] = []
        for new in new_items:
            self.last_item_seq += 1
            item = Item(
                item_id=new.item_id,
                thread_id=self.thread.thread_id,
                turn_id=self.turn.turn_id,
                seq=self.last_item_seq,
                status=new.status,
                payload=redact(new.payload),
                created_at=now,
            )
            items.append(item)
            self.events.emit(
                "item_completed", item_id=item.item_id, params=item_completed_params(item)
            )
        # What ends or pauses a turn is announced once it is stored, so that a client who
        # sees it can always read it back.
        for event_type, params, item_id in trailing:
            self.events.emit(event_type, item_id=item_id, params=params, defer=True)
        cursor = ThreadCursor(last_item_seq=self.last_item_seq, last_event_seq=self.events.last_seq)
        running = None if self.segment_start is None else self.running_seconds()
        step_records = [*self.step_log.take_closing(), *steps]
        spans = (
            []
            if self.trace is None
            else self.trace.spans(
                step_records,
                _lookup(items, self.history),
                end=end,
                turn_status=turn_status,
                turn_items=lambda: [*self.turn_items(), *items],
            )
        )
        write = TurnWrite(
            thread_id=self.thread.thread_id,
            turn_id=self.turn.turn_id,
            epoch=self.epoch,
            cursor=cursor,
            expected=self._stored,
            items=items,
            events=self.events.take_unstored(),
            turn_status=turn_status,
            usage=self.usage,
            steps=self.steps,
            running_seconds=running,
            error=error,
            end=end,
            wake_after=wake_after,
            tool_states=tool_states or {},
            consume_inbox=consume_inbox,
            timers=timers,
            options=options,
            files=files,
            parent_id=self.thread.parent_id,
            step_records=step_records,
            spans=spans,
            **({} if state is _UNSET else {"thread_state": state}),
        )
        if files:
            self.attachments.clear()  # an attached file may have changed
        if end is not None:
            self.ending = True
        writing = asyncio.ensure_future(self.store.write_turn(write))
        before = self._stored
        self._stored, self._writing = cursor, writing
        self.history.extend(items)
        self.indexed.add(items)
        previous_turn = self.turn
        if options is not None:
            self.turn = replace(self.turn, options=options)
        if turn_status is not None:
            self.turn = replace(
                self.turn,
                status=turn_status,
                usage=self.usage,
                steps=self.steps,
                running_seconds=self.running_seconds(),
                error=error,
                updated_at=now,
                completed_at=now if end == "release" else None,
            )
        writing.add_done_callback(self._note_outcome)
        if not wait and getattr(self.store, "ordered_writes", False):
            self.events.publish_deferred()
            return items
        # The write finishes even if this task is cancelled meanwhile: its outcome decides
        # what the turn knows, so that an interrupt never writes the same items twice.
        self._waited = writing
        cancelled = await _settle(writing)
        if writing.cancelled() or writing.exception() is not None:
            self.events.drop_deferred()
            self.ending = False
            if self.failed is None and before == write.expected:
                # Nothing of it was stored and nothing else was pending: take it back.
                del self.history[len(self.history) - len(items) :]
                self.index = HistoryIndex(self.history)
                self.last_item_seq -= len(items)
                self._stored, self.turn = before, previous_turn
            if writing.cancelled():
                raise asyncio.CancelledError
            raise writing.exception()  # type: ignore[misc]
        self.events.publish_deferred()
        if cancelled:
            raise asyncio.CancelledError
        return items

    def _note_outcome(self, writing: asyncio.Future[Written]) -> None:
        if writing.cancelled():
            return
        if writing.exception() is not None:
            if self.failed is None and writing is not self._waited:
                self.failed = writing.exception()
            return
        self.written = writing.result()

    def fresh_call_id(self, tool_call_id: str) -> str:
        """`tool_call_id`, or a new id if the thread already has a call with it: each call
        is stored once per thread, and some models reuse ids such as `call_0`."""
        calls = self.indexed.calls
        if not tool_call_id or tool_call_id in calls:
            tool_call_id = new_id("call")
        calls.add(tool_call_id)
        return tool_call_id

    def typed_state(self) -> Any:
        """The thread's state as the agent's `state_type` (a dict without one; None if the
        stored state no longer validates)."""
        state_type: type[BaseModel] | None = self.agent.state_type
        if state_type is None:
            return dict(self.state or {})
        try:
            return state_type.model_validate(self.state or {})
        except Exception:
            return None

    def tool_state(self, tool_call_id: str, state: Any, services: ToolServices) -> ThreadState[Any]:
        """The `ThreadState` a tool call of this turn receives."""
        return ThreadState[Any](
            thread_id=self.thread.thread_id,
            turn_id=self.turn.turn_id,
            tool_call_id=tool_call_id,
            user_id=self.thread.user_id,
            items=self.history,
            state=state,
            state_type=self.agent.state_type,
            epoch=self.epoch,
            services=services,
            metadata=self.thread.metadata,
            mode=self.thread.mode,
            agent_id=self.thread.agent,
            created_at=self.thread.created_at,
        )

    def view(self) -> ThreadView[Any]:
        """A read-only view of the thread for code that builds a request."""
        return ThreadView[Any](
            thread_id=self.thread.thread_id,
            turn_id=self.turn.turn_id,
            user_id=self.thread.user_id,
            items=self.history,
            state=self.typed_state(),
            metadata=self.thread.metadata,
            mode=self.thread.mode,
            agent_id=self.thread.agent,
            created_at=self.thread.created_at,
        )

    @property
    def indexed(self) -> HistoryIndex:
        assert self.index is not None
        return self.index

    def turn_items(self) -> list[Item]:
        """This turn's items: always the end of the history, which only grows."""
        if self._turn_start is None:
            turn_id = self.turn.turn_id
            start = len(self.history)
            while start > 0 and self.history[start - 1].turn_id == turn_id:
                start -= 1
            self._turn_start = start
        return self.history[self._turn_start :]


async def _settle(writing: asyncio.Future[Written]) -> bool:
    """Wait for a write to finish, even through cancellation; True if we were cancelled."""
    cancelled = False
    while not writing.done():
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            cancelled = True
        except BaseException:
            break
    return cancelled


def new_item(payload: Payload, status: ItemStatus = "completed") -> NewItem:
    return NewItem(item_id=new_id("item"), payload=payload, status=status)


def _lookup(new: Sequence[Item], history: Sequence[Item]) -> Callable[[str], Item | None]:
    """Find an item of this commit, or one stored before (a paused batch's first results)."""
    by_id = {i.item_id: i for i in new}

    def find(item_id: str) -> Item | None:
        found = by_id.get(item_id)
        if found is None:
            found = next((i for i in reversed(history) if i.item_id == item_id), None)
        return found

    return find
