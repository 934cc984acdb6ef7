"""Starts turns, keeps the ones running in this process, and drains each thread's inbox."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from threadline.models import Model, resolve_model
from threadline.store import (
    BeginTurn,
    CursorMovedError,
    Duplicate,
    Enqueued,
    Store,
    ThreadCursor,
    TurnStarted,
)
from threadline.types import (
    Budget,
    ConfigurationError,
    ContentPart,
    Event,
    Item,
    NotFoundError,
    StoreError,
    ThreadRecord,
    TurnInProgressError,
    TurnRecord,
    UserMessage,
    new_id,
    part_from_dict,
    payload_to_dict,
)

from ._agent import Agent
from ._bus import Channel, EventBus
from ._context import TurnContext
from ._history import HistoryCache
from ._input import parts_as_json
from ._result import TurnResult
from ._turn import TurnRunner
from ._turn_events import TurnEvents

logger = logging.getLogger("threadline.runtime")

_BEGIN_ATTEMPTS = 20


class TurnListener(Channel):
    """The channel of whoever started a turn; `active` is set once the turn runs."""

    def __init__(self) -> None:
        super().__init__(None)
        self.active: ActiveTurn | None = None
        self.ready = asyncio.Event()


class ActiveTurn:
    def __init__(self, thread_id: str, turn_id: str, bus: EventBus) -> None:
        self.thread_id = thread_id
        self.turn_id = turn_id
        self.task: asyncio.Task[TurnResult] | None = None
        self.listeners: list[TurnListener] = []
        self._bus = bus

    def publish(self, event: Event) -> None:
        for listener in self.listeners:
            listener.push(event)
        self._bus.publish(event)
        if event.is_terminal:
            for listener in self.listeners:
                listener.close()

    def attach(self, listener: TurnListener) -> None:
        self.listeners.append(listener)
        listener.active = self
        listener.ready.set()


@dataclass(frozen=True, kw_only=True)
class StartOptions:
    sender: str | None = None
    client_key: str | None = None
    enqueue_if_busy: bool = False
    budget: Budget | None = None


@dataclass(frozen=True, kw_only=True)
class StartOutcome:
    """How a submission was taken: started now, queued behind the running turn, or a
    repeat of an earlier submission with the same client key."""

    kind: str  # "started" | "enqueued" | "duplicate"
    turn_id: str | None
    entry_id: str | None = None
    duplicate_turn: TurnRecord | None = None


class Engine:
    def __init__(self, *, store: Store, agents: Mapping[str, Agent], default_model: str | Model,
                 history_cache_threads: int) -> None:
        self.store = store
        self.agents = agents
        self.default_model = default_model
        self.bus = EventBus()
        self.history = HistoryCache(history_cache_threads)
        self.active: dict[str, ActiveTurn] = {}
        self._waiters: dict[str, TurnListener] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._models: dict[int, Model] = {}
        self._budgets: dict[str, Budget] = {}
        self.closing = False

    def agent(self, name: str) -> Agent:
        try:
            return self.agents[name]
        except KeyError:
            raise ConfigurationError(
                f"no agent named {name!r} in this app; agents: {sorted(self.agents)}") from None

    def model_for(self, agent: Agent) -> Model:
        spec = agent.model if agent.model is not None else self.default_model
        model = self._models.get(id(agent))
        if model is None:
            model = self._models[id(agent)] = resolve_model(spec)
        return model

    # -- starting turns ----------------------------------------------------------------------

    async def start_turn(self, thread_id: str, parts: tuple[ContentPart, ...],
                         options: StartOptions, listener: TurnListener | None,
                         inbox_entry_id: str | None = None) -> StartOutcome:
        if self.closing:
            raise StoreError("the app is closing")
        input_json = parts_as_json(parts)
        for _ in range(_BEGIN_ATTEMPTS):
            thread = await self.store.get_thread(thread_id)
            if thread is None:
                raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
            agent = self.agent(thread.agent)
            now = time.time()
            turn = TurnRecord(
                turn_id=new_id("turn"), thread_id=thread_id, number=thread.turn_count + 1,
                status="running", input=input_json, sender=options.sender,
                client_key=options.client_key, created_at=now, updated_at=now)
            events = TurnEvents(thread_id=thread_id, turn_id=turn.turn_id,
                                last_seq=thread.last_event_seq)
            user_item = Item(item_id=new_id("item"), thread_id=thread_id, turn_id=turn.turn_id,
                             seq=thread.last_item_seq + 1, status="completed", created_at=now,
                             payload=UserMessage(content=parts, sender=options.sender))
            events.emit("turn_started", params={"number": turn.number, "input": input_json,
                                                "sender": options.sender})
            events.emit("item_started", item_id=user_item.item_id, params={"item": {
                "id": user_item.item_id, "type": "user_message", "status": "in_progress",
                "content": payload_to_dict(user_item.payload)}})
            events.emit("item_completed", item_id=user_item.item_id,
                        params={"item": user_item.to_dict()})
            try:
                outcome = await self.store.begin_turn(BeginTurn(
                    turn=turn, items=[user_item], events=events.take_unstored(),
                    expected=ThreadCursor(last_item_seq=thread.last_item_seq,
                                          last_event_seq=thread.last_event_seq),
                    enqueue_if_busy=options.enqueue_if_busy, inbox_entry_id=inbox_entry_id))
            except CursorMovedError:
                if inbox_entry_id is not None and await self._entry_gone(thread_id,
                                                                        inbox_entry_id):
                    raise TurnInProgressError("the inbox entry was started elsewhere",
                                              thread_id=thread_id) from None
                continue
            if isinstance(outcome, TurnStarted):
                self._launch(thread, agent, outcome, events, options.budget, listener)
                return StartOutcome(kind="started", turn_id=turn.turn_id)
            if isinstance(outcome, Enqueued):
                if listener is not None:
                    self._waiters[outcome.entry.entry_id] = listener
                if outcome.active_turn_id is not None and thread_id not in self.active:
                    # The running turn belongs to no task here: nothing will drain for us.
                    logger.info("input queued behind turn %s of another process",
                                outcome.active_turn_id)
                return StartOutcome(kind="enqueued", turn_id=None,
                                    entry_id=outcome.entry.entry_id)
            assert isinstance(outcome, Duplicate)
            if outcome.turn is not None:
                active = self.active.get(thread_id)
                if listener is not None and active is not None and (
                        active.turn_id == outcome.turn.turn_id):
                    active.attach(listener)
                return StartOutcome(kind="duplicate", turn_id=outcome.turn.turn_id,
                                    duplicate_turn=outcome.turn)
            assert outcome.entry is not None
            if listener is not None:
                self._waiters[outcome.entry.entry_id] = listener
            return StartOutcome(kind="duplicate", turn_id=None, entry_id=outcome.entry.entry_id)
        raise StoreError(f"could not start a turn on thread {thread_id}: it kept changing")

    async def _entry_gone(self, thread_id: str, entry_id: str) -> bool:
        return all(e.entry_id != entry_id for e in await self.store.list_inbox(thread_id))

    def _launch(self, thread: ThreadRecord, agent: Agent, started: TurnStarted,
                events: TurnEvents, budget: Budget | None, listener: TurnListener | None) -> None:
        turn = started.turn
        history = self._history_before(thread)
        active = ActiveTurn(thread.thread_id, turn.turn_id, self.bus)
        self.active[thread.thread_id] = active
        if listener is not None:
            active.attach(listener)

        async def drive() -> TurnResult:
            try:
                items = await history
                items.extend(started.items)
                ctx = TurnContext(
                    store=self.store, thread=thread, turn=turn, agent=agent,
                    model=self.model_for(agent), budget=agent.budget.merged(budget),
                    events=events, history=items, last_item_seq=started.cursor.last_item_seq,
                    state=thread.state)
                events.attach(active.publish)
                result = await TurnRunner(ctx).run()
                self.history.put(thread.thread_id, ctx.history)
                return result
            finally:
                if self.active.get(thread.thread_id) is active:
                    del self.active[thread.thread_id]
                for waiting in active.listeners:
                    waiting.close()
                if not self.closing:
                    self.spawn(self.drain(thread.thread_id))

        active.task = asyncio.get_running_loop().create_task(drive())

    async def _history_before(self, thread: ThreadRecord) -> list[Item]:
        # Seqs are gap-free, so "up to `last`" is a count. The turn's own user item is
        # already stored and is appended by the caller.
        cached = self.history.take(thread.thread_id)
        last = thread.last_item_seq
        after = cached[-1].seq if cached else 0
        if cached is None or after > last:
            cached, after = [], 0
        if after < last:
            cached.extend(await self.store.load_items(thread.thread_id, after_seq=after,
                                                      limit=last - after))
        return cached

    # -- the inbox ---------------------------------------------------------------------------

    async def drain(self, thread_id: str) -> None:
        """Start the oldest queued input of the thread, if the thread is free."""
        if thread_id in self.active or self.closing:
            return
        entry = await self.store.peek_inbox(thread_id)
        if entry is None:
            return
        listener = self._waiters.pop(entry.entry_id, None)
        parts = tuple(part_from_dict(p) for p in entry.input)
        try:
            await self.start_turn(thread_id, parts, StartOptions(
                sender=entry.sender, client_key=entry.client_key), listener,
                inbox_entry_id=entry.entry_id)
        except (TurnInProgressError, NotFoundError):
            if listener is not None:
                self._waiters[entry.entry_id] = listener

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- stopping ----------------------------------------------------------------------------

    async def interrupt(self, thread_id: str) -> bool:
        active = self.active.get(thread_id)
        if active is None or active.task is None or active.task.done():
            return False
        active.task.cancel()
        await asyncio.wait([active.task])
        return True

    async def close(self) -> None:
        self.closing = True
        tasks = [a.task for a in self.active.values() if a.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        background = list(self._background)
        for task in background:
            task.cancel()
        if background:
            await asyncio.wait(background)
        for listener in self._waiters.values():
            listener.close()
        self._waiters.clear()
        self.bus.close_all()
