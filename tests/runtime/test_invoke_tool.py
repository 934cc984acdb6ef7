"""`invoke_tool`: a tool calls another tool now, recorded as a durable call of its own."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import BaseModel

import threadline as tl
from threadline.runtime._history import visible_history
from threadline.store import BeginTurn, ThreadCursor
from threadline.testing import check_invariants, tool_call
from threadline.types import ToolCall, ToolResult, new_id


def calls(items: list[tl.Item]) -> list[ToolCall]:
    return [i.payload for i in items if isinstance(i.payload, ToolCall)]


def results(items: list[tl.Item]) -> dict[str, ToolResult]:
    return {i.payload.tool_call_id: i.payload for i in items if isinstance(i.payload, ToolResult)}


@pytest.fixture
def ran() -> list[str]:
    return []


@pytest.fixture
def tools(ran: list[str]) -> list[tl.Tool]:
    @tl.tool(idempotent=True)
    async def rate(currency: str, thread: tl.ThreadState[Any]) -> float:
        """A currency's rate in dollars."""
        ran.append(f"rate {currency} {thread.idempotency_key}")
        if currency == "XXX":
            raise tl.ToolError(f"no rate for {currency}")
        return {"EUR": 1.5, "GBP": 2.0}[currency]

    @tl.tool
    async def convert(amount: float, currency: str, thread: tl.ThreadState[Any]) -> str:
        """Convert an amount to dollars."""
        ran.append(f"convert {thread.idempotency_key}")
        try:
            rate_text = await thread.invoke_tool("rate", {"currency": currency})
        except tl.ToolError as exc:
            return f"cannot convert: {exc.message}"
        return f"{amount * float(rate_text)} USD"

    @tl.tool
    async def total(thread: tl.ThreadState[Any]) -> str:
        """Add two conversions (nested twice)."""
        first = await thread.invoke_tool("convert", {"amount": 2, "currency": "EUR"})
        second = await thread.invoke_tool("convert", '{"amount": 1, "currency": "GBP"}')
        return f"{first} + {second}"

    @tl.tool(needs_approval=True)
    async def wire(to: str) -> str:
        """Wire money (a human approves)."""
        ran.append(f"wire {to}")
        return f"wired {to}"

    @tl.tool
    async def pay(to: str, thread: tl.ThreadState[Any]) -> str:
        """Pay by wire."""
        try:
            return await thread.invoke_tool("wire", {"to": to})
        except tl.ToolError as exc:
            return f"refused: {exc.message}"

    return [rate, convert, total, wire, pay]


async def test_a_nested_call_returns_its_output_and_is_stored_as_a_call_of_its_own(
    make_app: Any, tools: list[tl.Tool], ran: list[str]
) -> None:
    app, model = await make_app(
        [tool_call("convert", {"amount": 2, "currency": "EUR"}, tool_call_id="c1"), "3 dollars."],
        tools=tools,
    )
    thread = await app.threads.start()

    result = await thread.run("2 EUR in USD?")

    assert result.text == "3 dollars."
    turn_id = result.turn.turn_id
    assert ran == [f"convert {turn_id}:c1", f"rate EUR {turn_id}:c1/1"]
    items = await thread.items()
    assert calls(items) == [
        ToolCall(tool_call_id="c1", name="convert", arguments='{"amount":2,"currency":"EUR"}'),
        ToolCall(
            tool_call_id="c1/1", name="rate", arguments='{"currency":"EUR"}', parent_call_id="c1"
        ),
    ]
    found = results(items)
    assert found["c1"].output == "3.0 USD"
    assert found["c1/1"] == ToolResult(
        tool_call_id="c1/1", name="rate", output="1.5", parent_call_id="c1"
    )
    # The model reads only its own call and that call's result.
    request = [i.payload for i in model.requests[-1].items]
    assert [p.type for p in request] == ["user_message", "tool_call", "tool_result"]
    assert [i.item_id for i in visible_history(items)] == [
        i.item_id for i in items if i.payload not in (calls(items)[1], found["c1/1"])
    ]


async def test_nested_calls_are_announced_as_items(make_app: Any, tools: list[tl.Tool]) -> None:
    app, _ = await make_app(
        [tool_call("convert", {"amount": 2, "currency": "EUR"}, tool_call_id="c1"), "ok"],
        tools=tools,
    )
    thread = await app.threads.start()

    live = [e async for e in thread.run_streamed("go")]
    stored = await thread.events()

    def nested(events: list[tl.Event]) -> list[tuple[str, str, str | None]]:
        shown: list[tuple[str, str, str | None]] = []
        for event in events:
            item = event.params.get("item") or {}
            content = item.get("content") or {}
            if content.get("parent_call_id") == "c1":
                shown.append((event.type, item["type"], content.get("output")))
        return shown

    expected = [
        ("item_started", "tool_call", None),
        ("item_completed", "tool_call", None),
        ("item_started", "tool_result", ""),
        ("item_completed", "tool_result", "1.5"),
    ]
    assert nested(live) == expected
    assert nested(stored) == expected  # the log replays them as they streamed


async def test_an_error_outcome_raises_tool_error_with_the_tool_text(
    make_app: Any, tools: list[tl.Tool]
) -> None:
    app, _ = await make_app(
        [tool_call("convert", {"amount": 1, "currency": "XXX"}, tool_call_id="c1"), "ok"],
        tools=tools,
    )
    thread = await app.threads.start()

    await thread.run("go")

    found = results(await thread.items())
    assert found["c1/1"].outcome == "error"
    assert found["c1/1"].output == "Error: no rate for XXX"
    assert found["c1"].output == "cannot convert: no rate for XXX"


async def test_nested_calls_nest_and_number_per_caller(
    make_app: Any, tools: list[tl.Tool], ran: list[str]
) -> None:
    app, _ = await make_app([tool_call("total", {}, tool_call_id="t"), "ok"], tools=tools)
    thread = await app.threads.start()

    result = await thread.run("go")

    turn_id = result.turn.turn_id
    assert ran == [
        f"convert {turn_id}:t/1",
        f"rate EUR {turn_id}:t/1/1",
        f"convert {turn_id}:t/2",
        f"rate GBP {turn_id}:t/2/1",
    ]
    items = await thread.items()
    assert [(c.tool_call_id, c.parent_call_id) for c in calls(items)] == [
        ("t", None),
        ("t/1", "t"),
        ("t/1/1", "t/1"),
        ("t/2", "t"),
        ("t/2/1", "t/2"),
    ]
    assert results(items)["t"].output == "3.0 USD + 2.0 USD"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"name": "fly", "args": {}}, "there is no tool named 'fly'; available: "),
        ({"name": "rate", "args": {"currency": 3}}, "Invalid arguments for tool rate"),
        ({"name": "rate", "args": "not json"}, "Invalid arguments for tool rate"),
    ],
)
async def test_unknown_tools_and_invalid_arguments_raise_and_store_nothing(
    make_app: Any, tools: list[tl.Tool], ran: list[str], arguments: dict[str, Any], error: str
) -> None:
    @tl.tool
    async def call_it(name: str, args: Any, thread: tl.ThreadState[Any]) -> str:
        """Invoke a tool by name."""
        try:
            return await thread.invoke_tool(name, args)
        except tl.ToolError as exc:
            return f"refused: {exc.message}"

    app, _ = await make_app(
        [tool_call("call_it", arguments, tool_call_id="c1"), "ok"], tools=[*tools, call_it]
    )
    thread = await app.threads.start()

    await thread.run("go")

    items = await thread.items()
    assert [c.tool_call_id for c in calls(items)] == ["c1"]
    assert results(items)["c1"].output.startswith(f"refused: {error}")
    if "no tool" in error:
        assert "call_it, convert, pay, rate, total, wire" in results(items)["c1"].output
    assert ran == []


async def test_a_nested_call_that_needs_approval_is_refused_and_never_runs(
    make_app: Any, tools: list[tl.Tool], ran: list[str]
) -> None:
    app, _ = await make_app([tool_call("pay", {"to": "bob"}, tool_call_id="c1"), "ok"], tools=tools)
    thread = await app.threads.start()

    result = await thread.run("pay bob")

    assert result.status == "completed"
    assert ran == []
    items = await thread.items()
    assert [c.tool_call_id for c in calls(items)] == ["c1"]
    assert results(items)["c1"].output.startswith("refused: tool 'wire' needs a human's approval")


async def test_a_standing_approval_lets_a_nested_call_run(
    make_app: Any, tools: list[tl.Tool], ran: list[str]
) -> None:
    app, _ = await make_app(
        [
            tool_call("wire", {"to": "ann"}, tool_call_id="w1"),
            "wired ann",
            tool_call("pay", {"to": "bob"}, tool_call_id="c1"),
            "paid bob",
        ],
        tools=tools,
    )
    thread = await app.threads.start()
    await thread.run("wire ann")
    await thread.approve("w1", always=True)
    await thread.resume_turn()

    await thread.run("pay bob")

    assert ran == ["wire ann", "wire bob"]
    assert results(await thread.items())["c1"].output == "wired bob"


async def test_a_tool_the_caller_must_approve_is_refused_too(
    make_app: Any, tools: list[tl.Tool], ran: list[str]
) -> None:
    app, _ = await make_app(
        [tool_call("convert", {"amount": 1, "currency": "EUR"}, tool_call_id="c1"), "ok"],
        tools=tools,
    )
    thread = await app.threads.start()

    paused = await thread.run("go", require_approval=["convert", "rate"])
    await thread.approve("c1")
    await thread.resume_turn()

    assert paused.status == "paused"
    assert ran == ["convert " + paused.turn.turn_id + ":c1"]
    assert "needs a human's approval" in results(await thread.items())["c1"].output


class Ledger(BaseModel):
    entries: list[str] = []


async def test_a_nested_tool_state_and_effects_are_stored_with_its_result(
    make_app: Any,
) -> None:
    @tl.tool
    async def note(text: str, thread: tl.ThreadState[Ledger]) -> str:
        """Note a line and remind about it later."""
        thread.set_state(Ledger(entries=[*thread.state.entries, text]))
        thread.schedule_effect(f"remember {text}", delay=3600)
        return "noted"

    @tl.tool
    async def note_twice(thread: tl.ThreadState[Ledger]) -> str:
        """Note two lines."""
        await thread.invoke_tool("note", {"text": "a"})
        await thread.invoke_tool("note", {"text": "b"})
        return f"{thread.state.entries}"

    app, _ = await make_app(
        [tool_call("note_twice", {}, tool_call_id="c1"), "ok"],
        tools=[note, note_twice],
        state_type=Ledger,
    )
    thread = await app.threads.start()

    await thread.run("go")

    assert results(await thread.items())["c1"].output == "['a', 'b']"
    assert (await thread.reload()).state == {"entries": ["a", "b"]}
    assert sorted(t.input[0]["text"] for t in await thread.scheduled()) == [  # type: ignore[index]
        "remember a",
        "remember b",
    ]


async def test_cancelling_the_turn_answers_the_running_nested_call(make_app: Any) -> None:
    started = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Sleep."""
        started.set()
        await asyncio.sleep(30)
        return "done"

    @tl.tool
    async def outer(thread: tl.ThreadState[Any]) -> str:
        """Call slow."""
        return await thread.invoke_tool("slow")

    app, _ = await make_app([tool_call("outer", {}, tool_call_id="c1")], tools=[slow, outer])
    thread = await app.threads.start()

    task = asyncio.create_task(thread.run("go"))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (await thread.turns())[0].status == "cancelled"
    found = results(await thread.items())
    assert found["c1"].outcome == "cancelled"
    assert found["c1/1"].outcome == "cancelled"
    assert found["c1/1"].parent_call_id == "c1"


async def test_a_nested_call_left_running_by_its_caller_is_answered_with_it(
    make_app: Any,
) -> None:
    release = asyncio.Event()
    running = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Wait to be released."""
        running.set()  # its start is stored: it runs only after that
        await release.wait()
        return "late"

    @tl.tool
    async def impatient(thread: tl.ThreadState[Any]) -> str:
        """Start slow and return without waiting for it."""
        background = asyncio.ensure_future(thread.invoke_tool("slow"))
        await running.wait()
        impatient.background = background  # type: ignore[attr-defined]
        return "did not wait"

    app, _ = await make_app(
        [tool_call("impatient", {}, tool_call_id="c1"), "ok"], tools=[slow, impatient]
    )
    thread = await app.threads.start()

    await thread.run("go")
    release.set()
    with pytest.raises(tl.ToolError, match="the calling tool had ended"):
        await impatient.background  # type: ignore[attr-defined]

    found = results(await thread.items())
    assert found["c1"].output == "did not wait"
    assert found["c1/1"].outcome == "cancelled"


async def test_check_invariants_finds_a_nested_call_without_its_caller(make_store: Any) -> None:
    now = time.time()
    async with make_store() as store:
        thread = await store.create_thread(
            tl.ThreadRecord(thread_id=new_id("thr"), agent="a", created_at=now, updated_at=now)
        )
        turn = tl.TurnRecord(
            turn_id=new_id("turn"),
            thread_id=thread.thread_id,
            number=1,
            status="running",
            input=[{"type": "text", "text": "hi"}],
            created_at=now,
            updated_at=now,
        )
        orphan = tl.Item(
            item_id=new_id("item"),
            thread_id=thread.thread_id,
            turn_id=turn.turn_id,
            seq=1,
            status="completed",
            payload=ToolCall(
                tool_call_id="gone/1", name="rate", arguments="{}", parent_call_id="gone"
            ),
            created_at=now,
        )
        await store.begin_turn(
            BeginTurn(
                turn=turn,
                expected=ThreadCursor(last_item_seq=0, last_event_seq=0),
                owner="proc_a",
                lease_seconds=30,
                items=[orphan],
            )
        )

        problems = await check_invariants(store, thread_ids=[thread.thread_id])

    assert f"I3 {thread.thread_id}: nested tool_call gone/1 has no caller gone in its turn" in (
        problems
    )


async def test_a_plan_recorded_by_a_nested_call_is_stored_with_its_result(
    make_app: Any,
) -> None:
    @tl.tool
    async def start_work(thread: tl.ThreadState[Any]) -> str:
        """Plan, then work."""
        steps = [{"step": "work", "status": "in_progress"}]
        return await thread.invoke_tool("update_plan", {"steps": steps})

    app, _ = await make_app(
        [tool_call("start_work", {}, tool_call_id="c1"), "ok"],
        tools=[start_work, tl.plan_tool()],
    )
    thread = await app.threads.start()

    events = [e async for e in thread.run_streamed("go")]

    items = await thread.items()
    kinds = [(i.type, getattr(i.payload, "tool_call_id", None)) for i in items]
    nested_result = kinds.index(("tool_result", "c1/1"))
    assert kinds[nested_result + 1] == ("plan", None)  # in the nested result's write
    plan = items[nested_result + 1]
    assert plan.payload == tl.Plan(steps=(tl.PlanStep(step="work", status="in_progress"),))
    assert [e.item_id for e in events if e.type == "plan_updated"] == [plan.item_id]
    assert results(items)["c1"].output == "Plan updated"
