"""Starts and continues turns, holds their leases, and drains each thread's inbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from threadline._logging import log_failure
from threadline._redaction import redact
from threadline.models import Model, resolve_model
from threadline.store import (
    BeginTurn,
    CursorMovedError,
    Duplicate,
    Enqueued,
    Lease,
    Store,
    ThreadCursor,
    TurnStarted,
    Written,
)
from threadline.types import (
    Budget,
    ConfigurationError,
    ContentPart,
    Item,
    NotFoundError,
    StoreError,
    SystemEvent,
    ThreadRecord,
    TimerRecord,
    TurnInProgressError,
    TurnRecord,
    item_completed_params,
    item_started_params,
    new_id,
    turn_started_params,
)

from ._agent import Agent
from ._attachments import accept_attachments, has_files
from ._bus import EventBus
from ._context import TurnContext
from ._context_window import window_for
from ._cost import refuse_unpriced
from ._decision_context import context_for_decision
from ._engine_parts import (
    ActiveTurn,
    EngineSettings,
    StartOptions,
    StartOutcome,
    TurnListener,
    external_tools,
    turn_id_for_entry,
    turn_settings,
)
from ._env import Environment
from ._faults import FaultHook
from ._follower import follow_turn, listen_for_wakeups
from ._history import HistoryCache, HistoryIndex
from ._imports import Imported, prepare_import
from ._inbox import drain, entry_gone, steer, wait_for_entry
from ._input import TurnInput
from ._leases import keep_leases
from ._loaders import Loaders
from ._model_step import check_caller_approvals
from ._registry import registered_agent
from ._result import TurnResult
from ._scheduling import ScheduledCall, first_input, timer_for
from ._secrets import SecretBox
from ._subagents import interrupt
from ._turn import TurnRunner
from ._turn_events import TurnEvents

_NOT_RUNNING_TURNS = (
    "this app does not run turns (run_turns=False): wake the turn for a worker instead"
)
logger = logging.getLogger("threadline.runtime")

_BEGIN_ATTEMPTS = 20


class Engine:
    def __init__(
        self,
        *,
        store: Store,
        agents: Mapping[str, Agent],
        default_model: str | Model,
        settings: EngineSettings,
        faults: FaultHook | None = None,
        env: Environment | None = None,
        loaders: Loaders | None = None,
    ) -> None:
        if settings.lease_seconds <= 0:
            raise ConfigurationError("lease_seconds must be positive")
        self.store = store
        self.agents: dict[str, Agent] = agents if isinstance(agents, dict) else dict(agents)
        self.loaders = loaders if loaders is not None else Loaders(agents=agents)
        self.default_model = default_model
        self.settings = settings
        self.faults = faults
        self.env = env if env is not None else Environment(store, SecretBox.configure())
        self.owner = new_id("proc")
        self.bus = EventBus()
        self.history = HistoryCache(settings.history_cache_threads)
        self.active: dict[str, ActiveTurn] = {}
        self.starting: dict[str, asyncio.Future[None]] = {}  # leased here, about to run
        self.suspended: dict[tuple[str, str], Any] = {}  # (thread, call) -> waiting tool
        self.steered: set[str] = set()  # threads this process sent steering input to
        self.capacity_freed = asyncio.Event()  # a turn ended here: a worker may claim more
        self.work_signal = asyncio.Event()  # another process said that work is waiting
        self.event_signals: dict[str, asyncio.Event] = {}  # thread -> "new events stored"
        self.followers: dict[str, int] = {}  # thread -> how many followers use its signal
        self.notified = False  # the store pushes notifications: polling can be slow
        self.inbox_waiters: dict[str, TurnListener] = {}  # entry -> who a start here attaches
        self.inbox_starting: dict[str, int] = {}  # entries being started here -> how many times
        self._background: set[asyncio.Task[Any]] = set()
        self._models: dict[int, Model] = {}
        self.memory_models: dict[str, Model] = {}  # observers' models, by spec
        self.closing = False

    # -- services lent to turns and tools ----------------------------------------------------

    def agent(self, name: str) -> Agent:
        agent = self.agents.get(name)
        if agent is not None:
            return agent
        # A thread of a registered definition continues in any process that registered it.
        registered = registered_agent(name)
        if registered is None:
            raise ConfigurationError(
                f"no agent named {name!r} in this app; agents: {sorted(self.agents)}"
            )
        self.adopt(registered)
        return registered

    def adopt(self, agent: Agent) -> None:
        """Run `agent`'s threads too (a thread definition's agent, met at run time).
        Raises `ConfigurationError` if another agent has its name here."""
        known = self.agents.setdefault(agent.name, agent)
        if known is not agent:
            raise ConfigurationError(
                f"this app already has another agent named {agent.name!r}; a thread "
                "definition's key must not be the name of another agent"
            )

    def model_for(self, agent: Agent) -> Model:
        spec = agent.model if agent.model is not None else self.default_model
        model = self._models.get(id(agent))
        if model is None:
            model = self._models[id(agent)] = resolve_model(spec)
        return model

    def timer_for(
        self,
        thread_id: str,
        effect: TurnInput | ScheduledCall,
        *,
        at: float | None,
        delay: float | None,
    ) -> TimerRecord:
        return timer_for(thread_id, effect, at=at, delay=delay)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def start(self) -> None:
        self.spawn(keep_leases(self))
        if self.settings.recovery_interval is not None:
            self.spawn(self._recovery_loop(self.settings.recovery_interval))
        listen = getattr(self.store, "listen", None)
        if listen is not None:
            self.notified = True
            self.spawn(listen_for_wakeups(self, listen))

    async def start_turn(
        self,
        thread_id: str,
        parts: tuple[ContentPart, ...] | ScheduledCall | None,
        options: StartOptions,
        listener: TurnListener | None,
        inbox_entry_id: str | None = None,
    ) -> StartOutcome:
        """Start a turn with `parts` as its input (None: a turn that answers the history as
        it stands, with `options.history` imported before it)."""
        if self.closing:
            raise StoreError("the app is closing")
        parts = redact(parts)  # the input is stored, and shown, without secret values
        if options.on_busy == "interrupt":
            await interrupt(self, thread_id)
        # Queued input was checked when it was queued: a file deleted since is named to the
        # model but not shown, rather than blocking the queue.
        attaching = inbox_entry_id is None and isinstance(parts, tuple) and has_files(parts)
        for _ in range(_BEGIN_ATTEMPTS):
            thread = await self.store.get_thread(thread_id)
            if thread is None:
                raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
            if attaching:  # each file part must name a file of this thread
                assert isinstance(parts, tuple)
                parts, attaching = await accept_attachments(self.store, thread_id, parts), False
            if options.on_busy == "steer" and thread.active_turn_id is not None:
                assert parts is not None and not options.history  # refused by `Thread`
                return await steer(self, thread, parts, options, listener)
            agent = self.agent(thread.agent)
            await check_caller_approvals(agent, thread.mode, options.require_approval)
            if self.settings.run_turns:
                # A bad model spec, or a model a strict budget cannot price, fails here,
                # before anything is stored.
                refuse_unpriced(agent.budget.merged(options.budget), self.model_for(agent))
            now = time.time()
            turn_id = turn_id_for_entry(inbox_entry_id) if inbox_entry_id else new_id("turn")
            input_json, payload, states = first_input(parts, options.sender)
            runs_here = self.settings.run_turns
            turn = TurnRecord(
                turn_id=turn_id,
                thread_id=thread_id,
                number=thread.turn_count + 1,
                status="running" if runs_here else "queued",
                input=input_json,
                sender=options.sender,
                client_key=options.client_key,
                created_at=now,
                updated_at=now,
                options=options.turn_options(),
            )
            imported = (
                await prepare_import(self.store, thread, turn.turn_id, options.history)
                if options.history
                else Imported(items=[], events=[])
            )
            events = TurnEvents(
                thread_id=thread_id,
                turn_id=turn.turn_id,
                last_seq=thread.last_event_seq + len(imported.events),
            )
            events.emit(
                "turn_started", params=turn_started_params(turn.number, turn.input, turn.sender)
            )
            items = list(imported.items)
            if payload is not None:
                first = Item(
                    item_id=new_id("item"),
                    thread_id=thread_id,
                    turn_id=turn.turn_id,
                    seq=thread.last_item_seq + len(items) + 1,
                    status="completed",
                    created_at=now,
                    payload=payload,
                )
                items.append(first)
                events.emit(
                    "item_started",
                    item_id=first.item_id,
                    params=item_started_params(first.item_id, payload, streams=False),
                )
                events.emit(
                    "item_completed", item_id=first.item_id, params=item_completed_params(first)
                )
            try:
                outcome = await self.store.begin_turn(
                    BeginTurn(
                        turn=turn,
                        items=items,
                        events=[*imported.events, *events.take_unstored()],
                        expected=ThreadCursor(
                            last_item_seq=thread.last_item_seq, last_event_seq=thread.last_event_seq
                        ),
                        owner=self.owner if runs_here else None,
                        lease_seconds=self.settings.lease_seconds,
                        enqueue_if_busy=options.on_busy in ("enqueue", "steer"),
                        inbox_entry_id=inbox_entry_id,
                        tool_states=states,
                    )
                )
            except CursorMovedError:
                if inbox_entry_id is not None and await entry_gone(self, thread_id, inbox_entry_id):
                    raise TurnInProgressError(
                        "the inbox entry was started elsewhere", thread_id=thread_id
                    ) from None
                continue
            if isinstance(outcome, TurnStarted):
                for event in imported.events:  # before the turn's, which follow them
                    self.bus.publish(event)
            if isinstance(outcome, TurnStarted) and not runs_here:
                if listener is not None:
                    turn_after = thread.last_event_seq + len(imported.events)
                    self.follow(thread_id, turn.turn_id, turn_after, listener)
                return StartOutcome(kind="stored", turn_id=turn.turn_id)
            if isinstance(outcome, TurnStarted):
                await self._fault("after_user_item_commit")
                history, index = await self.history_upto(thread, thread.last_item_seq)
                history.extend(outcome.items)
                index.add(outcome.items)
                self._launch(
                    thread,
                    agent,
                    turn,
                    outcome.epoch,
                    history,
                    index,
                    events,
                    listener,
                    written=outcome.written,
                    fresh=True,
                )
                return StartOutcome(kind="started", turn_id=turn.turn_id)
            if isinstance(outcome, Enqueued):
                if listener is not None:
                    wait_for_entry(
                        self, thread_id, outcome.entry.entry_id, thread.last_event_seq, listener
                    )
                return StartOutcome(kind="enqueued", turn_id=None, entry_id=outcome.entry.entry_id)
            assert isinstance(outcome, Duplicate)
            if outcome.turn is not None:
                active = self.active.get(thread_id)
                if (
                    listener is not None
                    and active is not None
                    and (active.turn_id == outcome.turn.turn_id)
                ):
                    active.attach(listener)
                return StartOutcome(
                    kind="duplicate", turn_id=outcome.turn.turn_id, duplicate_turn=outcome.turn
                )
            assert outcome.entry is not None
            if listener is not None:
                wait_for_entry(
                    self, thread_id, outcome.entry.entry_id, thread.last_event_seq, listener
                )
            return StartOutcome(kind="duplicate", turn_id=None, entry_id=outcome.entry.entry_id)
        raise StoreError(f"could not start a turn on thread {thread_id}: it kept changing")

    async def _fault(self, point: Any) -> None:
        if self.faults is not None:
            await self.faults.hit(point)

    def _launch(
        self,
        thread: ThreadRecord,
        agent: Agent,
        turn: TurnRecord,
        epoch: int,
        history: list[Item],
        index: HistoryIndex,
        events: TurnEvents,
        listener: TurnListener | None,
        *,
        written: Written | None = None,
        fresh: bool = False,
    ) -> ActiveTurn:
        active = ActiveTurn(thread.thread_id, turn.turn_id, epoch, self.bus)
        self.active[thread.thread_id] = active
        if listener is not None:
            active.attach(listener)
        model = self.model_for(agent)
        ctx = active.context = TurnContext(
            store=self.store,
            thread=thread,
            turn=turn,
            agent=agent,
            model=model,
            budget=agent.budget.merged(Budget.from_dict(turn.options.get("budget"))),
            external_tools=external_tools(turn),
            settings=turn_settings(turn),
            events=events,
            context_window=window_for(agent.context_window, model),
            history=history,
            index=index,
            last_item_seq=history[-1].seq if history else 0,
            epoch=epoch,
            usage=turn.usage,
            steps=turn.steps,
            state=thread.state,
            faults=self.faults,
            services=self,
            segment_start=time.monotonic(),
            written=written,
            first_step=0 if fresh else None,
            trace=self.settings.tracing.begin(thread.thread_id, turn, self.owner),
        )
        ctx.repairs = sum(
            1
            for i in ctx.turn_items()
            if isinstance(i.payload, SystemEvent) and i.payload.phase == "repair"
        )
        events.attach(active.publish)

        async def drive() -> TurnResult:
            try:
                result = await TurnRunner(ctx).run()
                self.history.put(thread.thread_id, ctx.history, ctx.indexed)
                return result
            finally:
                if self.active.get(thread.thread_id) is active:
                    del self.active[thread.thread_id]
                self.capacity_freed.set()
                for waiting in active.listeners:
                    waiting.close()
                # The turn's last write says whether input waits (a store that cannot say
                # gets asked).
                if not self.closing and (ctx.written is None or ctx.written.queued_input):
                    self.spawn(self.drain(thread.thread_id))

        active.task = asyncio.get_running_loop().create_task(drive())
        return active

    async def history_upto(
        self, thread: ThreadRecord, last: int
    ) -> tuple[list[Item], HistoryIndex]:
        # Seqs are gap-free, so "up to `last`" is a count.
        cached = self.history.take(thread.thread_id)
        items, index = cached if cached is not None else ([], HistoryIndex())
        after = items[-1].seq if items else 0
        if after > last:
            items, index, after = [], HistoryIndex(), 0
        if after < last:
            loaded = await self.store.load_items(
                thread.thread_id, after_seq=after, limit=last - after
            )
            items.extend(loaded)
            index.add(loaded)
        return items, index

    # -- continuing a stored turn ------------------------------------------------------------

    async def continue_turn(
        self, thread_id: str, turn_id: str, listener: TurnListener | None
    ) -> ActiveTurn | None:
        """Take the lease on a stored, unfinished turn and run it from its stored steps.
        None if another process holds it."""
        active = self._running_here(thread_id, turn_id)
        if active is None:
            if not self.settings.run_turns:
                raise ConfigurationError(_NOT_RUNNING_TURNS)
            lease = await self.store.acquire_lease(
                thread_id, turn_id, owner=self.owner, lease_seconds=self.settings.lease_seconds
            )
            if lease is not None:
                return await self.run_leased(lease, listener)
            # Taken by this process meanwhile (recovery claims turns too): join it.
            starting = self.starting.get(thread_id)
            if starting is not None:
                await asyncio.wait([starting])
            active = self._running_here(thread_id, turn_id)
        if active is not None and listener is not None:
            active.attach(listener)
        return active

    def _running_here(self, thread_id: str, turn_id: str) -> ActiveTurn | None:
        active = self.active.get(thread_id)
        return active if active is not None and active.turn_id == turn_id else None

    async def run_leased(self, lease: Lease, listener: TurnListener | None = None) -> ActiveTurn:
        """Run the stored, unfinished turn whose lease this process has just taken."""
        thread_id, turn_id = lease.thread_id, lease.turn_id
        starting = self.starting[thread_id] = asyncio.get_running_loop().create_future()
        try:
            thread = await self.store.get_thread(thread_id)
            turn = await self.store.get_turn(turn_id)
            assert thread is not None and turn is not None
            history, index = await self.history_upto(thread, lease.cursor.last_item_seq)
            events = TurnEvents(
                thread_id=thread_id, turn_id=turn_id, last_seq=lease.cursor.last_event_seq
            )
            agent = self.agent(thread.agent)
        except BaseException:
            await self.store.hand_back(thread_id, lease.epoch)
            raise
        finally:
            starting.set_result(None)
            if self.starting.get(thread_id) is starting:
                del self.starting[thread_id]
        return self._launch(thread, agent, turn, lease.epoch, history, index, events, listener)

    def follow(
        self,
        thread_id: str,
        turn_id: str,
        after_seq: int,
        listener: TurnListener,
        *,
        take_over: bool = False,
    ) -> None:
        """Feed `listener` the stored events of a turn that runs in another process, from
        `after_seq` until the turn ends or pauses; with `take_over`, continue it here once
        that process is gone."""
        follow_turn(self, thread_id, turn_id, after_seq, listener, take_over=take_over)

    # -- the inbox ---------------------------------------------------------------------------

    async def drain(self, thread_id: str) -> None:
        """Start the oldest queued input of the thread, if the thread is free."""
        await drain(self, thread_id)

    # -- stopping ----------------------------------------------------------------------------

    async def cancel(self, thread_id: str) -> bool:
        """Interrupt the thread's unfinished turn, wherever it is. False if there is none."""
        active = self.active.get(thread_id)
        if active is not None and active.task is not None and not active.task.done():
            # A turn started just now takes its first step first: cancelled before it, its
            # task would never run the code that ends the turn.
            await asyncio.sleep(0)
            active.task.cancel()
            await asyncio.wait([active.task])
            return True
        thread = await self.store.get_thread(thread_id)
        if thread is None or thread.active_turn_id is None:
            return False
        turn_id = thread.active_turn_id
        if thread.lease_owner is None:
            try:
                ctx, _ = await context_for_decision(self, thread_id, ending=True)
            except TurnInProgressError:
                pass
            else:
                await TurnRunner(ctx).end_cancelled()
                return True
        await self.store.request_cancel(turn_id)
        deadline = time.monotonic() + 2 * self.settings.lease_seconds
        while time.monotonic() < deadline:
            turn = await self.store.get_turn(turn_id)
            if turn is None or turn.is_final:
                return True
            await asyncio.sleep(0.05)
        raise TurnInProgressError("the turn did not stop in time", thread_id=thread_id)

    async def _recovery_loop(self, interval: float) -> None:
        from ._recovery import recover

        while True:
            try:
                await recover(self)
            except Exception as exc:
                log_failure(logger, "recovery failed; will retry", exc=exc, level=logging.WARNING)
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """Let running turns finish for a grace period, then hand the rest back."""
        self.closing = True
        tasks = [a.task for a in self.active.values() if a.task is not None]
        if tasks and self.settings.shutdown_grace > 0:
            await asyncio.wait(tasks, timeout=self.settings.shutdown_grace)
        for active in list(self.active.values()):
            if active.task is not None and not active.task.done():
                active.lose_lease()  # stop without writing; recovery continues the turn
                await asyncio.wait([active.task])
                with contextlib.suppress(Exception):
                    await self.store.hand_back(active.thread_id, active.epoch)
        for invocation in list(self.suspended.values()):
            if invocation.task is not None:
                invocation.task.cancel()
        self.suspended.clear()
        background = list(self._background)
        for task in background:
            task.cancel()
        if background:
            await asyncio.wait(background)
        for listener in self.inbox_waiters.values():
            listener.close()
        self.inbox_waiters.clear()
        await self.settings.tracing.flush()
        self.bus.close_all()
