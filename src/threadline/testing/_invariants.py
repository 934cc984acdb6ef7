"""The invariants of RELIABILITY.md, checked on whatever a store holds after a fault."""

from __future__ import annotations

from collections import Counter

from threadline.runtime._history import visible_history
from threadline.store import Store
from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    Event,
    Item,
    Reasoning,
    ToolCall,
    ToolResult,
    TurnRecord,
    Usage,
    UserMessage,
    part_to_dict,
)


async def check_invariants(store: Store, *, thread_ids: list[str] | None = None) -> list[str]:
    """Every violation of I1–I8 found in the store (I9 belongs to each test's fake services).
    An empty list means the store is sound."""
    problems = [f"I8 integrity: {p}" for p in await store.check_integrity()]
    if thread_ids is None:
        thread_ids = []
        cursor = None
        for status in (None, "archived"):
            while True:
                page = await store.list_threads(limit=1000, cursor=cursor, status=status)  # type: ignore[arg-type]
                thread_ids += [t.thread_id for t in page.threads]
                cursor = page.next_cursor
                if cursor is None:
                    break
    for thread_id in thread_ids:
        problems += await _check_thread(store, thread_id)
    return problems


async def _check_thread(store: Store, thread_id: str) -> list[str]:
    problems: list[str] = []
    thread = await store.get_thread(thread_id)
    if thread is None:
        return [f"{thread_id}: listed but missing"]
    items = await store.load_items(thread_id)
    events = await store.load_events(thread_id)
    turns = await store.list_turns(thread_id)
    # I8: a child thread's parent is there (deleting a thread deletes its descendants).
    if thread.parent_id is not None and await store.get_thread(thread.parent_id) is None:
        problems.append(f"I8 {thread_id}: its parent {thread.parent_id} is missing")
    # I1: one user item per client key.
    keyed = Counter(t.client_key for t in turns if t.client_key is not None)
    problems += [
        f"I1 {thread_id}: client key {k!r} used by {n} turns" for k, n in keyed.items() if n > 1
    ]
    # Messages that joined the turn later (steered, queued, injected) are not its input.
    inputs = {t.turn_id: t.input for t in turns if t.client_key is not None}
    users = Counter(
        i.turn_id
        for i in items
        if isinstance(i.payload, UserMessage)
        and i.turn_id in inputs
        and [part_to_dict(p) for p in i.payload.content] == inputs[i.turn_id]
    )
    for turn_id, count in users.items():
        if count > 1:
            problems.append(
                f"I1 {thread_id}: turn {turn_id} has {count} user items for one client key"
            )
    # I2: gap-free, increasing sequence numbers, agreeing with the thread's counters.
    if [i.seq for i in items] != list(range(1, len(items) + 1)):
        problems.append(f"I2 {thread_id}: item seqs are not 1..{len(items)}")
    if [e.seq for e in events] != list(range(1, len(events) + 1)):
        problems.append(f"I2 {thread_id}: event seqs are not 1..{len(events)}")
    if (thread.last_item_seq, thread.last_event_seq) != (len(items), len(events)):
        problems.append(
            f"I2 {thread_id}: counters {thread.last_item_seq}/"
            f"{thread.last_event_seq} but {len(items)} items/{len(events)} events"
        )
    # I3: per tool call, at most one call, one result, one request, one decision.
    for kind in (ToolCall, ToolResult, ApprovalRequest, ApprovalResponse):
        counts = Counter(
            i.payload.tool_call_id
            for i in items  # type: ignore[union-attr]
            if isinstance(i.payload, kind)
        )
        problems += [
            f"I3 {thread_id}: {n} {kind.__name__} items for call {c}"
            for c, n in counts.items()
            if n > 1
        ]
    # I3: a call made by a tool (`invoke_tool`) names a call of its own turn as its caller,
    # and its id is the caller's plus `/<n>`.
    call_turns = {
        i.payload.tool_call_id: i.turn_id for i in items if isinstance(i.payload, ToolCall)
    }
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolCall | ToolResult) and payload.parent_call_id is not None:
            caller = payload.parent_call_id
            if call_turns.get(caller, "") != item.turn_id or not payload.tool_call_id.startswith(
                caller + "/"
            ):
                problems.append(
                    f"I3 {thread_id}: nested {payload.type} {payload.tool_call_id} has no "
                    f"caller {caller} in its turn"
                )
    # I4: the history handed to a model is valid, and final turns answered every call.
    problems += _valid_history(thread_id, visible_history(items))
    for turn in turns:
        if turn.is_final:
            turn_items = [i for i in items if i.turn_id == turn.turn_id]
            answered = {
                i.payload.tool_call_id for i in turn_items if isinstance(i.payload, ToolResult)
            }
            problems += [
                f"I4 {thread_id}: final turn {turn.turn_id} left call "
                f"{i.payload.tool_call_id} unanswered"  # type: ignore[union-attr]
                for i in turn_items
                if isinstance(i.payload, ToolCall) and i.payload.tool_call_id not in answered
            ]
    # I5: at most one unfinished turn, and it is the thread's active turn.
    open_turns = [t.turn_id for t in turns if not t.is_final]
    if len(open_turns) > 1:
        problems.append(f"I5 {thread_id}: {len(open_turns)} unfinished turns")
    if open_turns and thread.active_turn_id not in open_turns:
        problems.append(f"I5 {thread_id}: unfinished turn {open_turns} is not the active one")
    if not open_turns and thread.active_turn_id is not None:
        problems.append(f"I5 {thread_id}: active turn {thread.active_turn_id} is final")
    # I6: one item_completed event per stored item, in item order; and once a turn has
    # ended, every item it started has ended too (replaying the log shows each item's end).
    completed = [e.item_id for e in events if e.type == "item_completed"]
    if completed != [i.item_id for i in items]:
        problems.append(f"I6 {thread_id}: item_completed events do not match stored items")
    final = {t.turn_id for t in turns if t.is_final}
    ended = set(completed)
    problems += [
        f"I6 {thread_id}: item {e.item_id} of final turn {e.turn_id} started and never completed"
        for e in events
        if e.type == "item_started" and e.turn_id in final and e.item_id not in ended
    ]
    # I7: budget counters equal what the stored usage events add up to.
    problems += _check_counters(thread_id, turns, events)
    problems += await _check_steps(store, thread_id, turns, items)
    return problems


async def _check_steps(
    store: Store, thread_id: str, turns: list[TurnRecord], items: list[Item]
) -> list[str]:
    """Step records: numbered 0..n-1 in each turn, each naming items of its own turn that
    no other step names, none left paused once the turn is final."""
    problems: list[str] = []
    turn_of = {i.item_id: i.turn_id for i in items}
    for turn in turns:
        steps = await store.list_steps(thread_id, turn.turn_id)
        if [s.number for s in steps] != list(range(len(steps))):
            problems.append(f"steps {thread_id}: turn {turn.turn_id} steps are not 0..n-1")
        named = Counter(i for s in steps for i in s.item_ids)
        problems += [
            f"steps {thread_id}: item {i} is named by {n} steps" for i, n in named.items() if n > 1
        ]
        problems += [
            f"steps {thread_id}: step item {i} is not an item of turn {turn.turn_id}"
            for i in named
            if turn_of.get(i) != turn.turn_id
        ]
        if turn.is_final and any(s.status == "paused" for s in steps):
            problems.append(f"steps {thread_id}: final turn {turn.turn_id} has a paused step")
    return problems


def _valid_history(thread_id: str, items: list[Item]) -> list[str]:
    problems: list[str] = []
    open_calls: set[str] = set()
    seen: set[str] = set()
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolCall):
            open_calls.add(payload.tool_call_id)
        elif isinstance(payload, ToolResult):
            if payload.tool_call_id not in open_calls or payload.tool_call_id in seen:
                problems.append(
                    f"I4 {thread_id}: result for {payload.tool_call_id} without its call"
                )
            seen.add(payload.tool_call_id)
        elif isinstance(payload, UserMessage | AgentMessage | Reasoning) and open_calls - seen:
            problems.append(f"I4 {thread_id}: message {item.item_id} between calls and results")
    missing = open_calls - seen
    problems += [f"I4 {thread_id}: call {c} has no result in the model history" for c in missing]
    return problems


def _check_counters(thread_id: str, turns: list[TurnRecord], events: list[Event]) -> list[str]:
    problems: list[str] = []
    for turn in turns:
        deltas = [e for e in events if e.turn_id == turn.turn_id and e.type == "usage_delta"]
        total = Usage()
        for event in deltas:
            total = total + Usage.from_dict(event.params["usage"])
        steps = sum(1 for e in deltas if "phase" not in e.params)  # summaries are no steps
        if turn.steps != steps or turn.usage.total_tokens != total.total_tokens:
            problems.append(
                f"I7 {thread_id}: turn {turn.turn_id} counts {turn.steps} steps/"
                f"{turn.usage.total_tokens} tokens; its records say {steps}/"
                f"{total.total_tokens}"
            )
    return problems
