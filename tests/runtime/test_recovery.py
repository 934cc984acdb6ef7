"""Recovery of turns handed back by a closing process (the in-process half; the SIGKILL half
is in tests/durability)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import threadline as tl
from threadline.testing import FaultPoints, ScriptedModel, eventually, tool_call
from threadline.types import ToolResult


async def hand_back_inside_tool(db_path: Path, tool: tl.Tool, model: ScriptedModel) -> str:
    faults = FaultPoints().arm("inside_tool", "block")
    app = tl.Threadline(
        agents=[tl.Agent(name="a", tools=[tool], model=model)],
        store=db_path,
        faults=faults,
        shutdown_grace=0,
    )
    await app.open()
    thread = await app.threads.start()
    task = asyncio.create_task(thread.run("go"))
    await eventually(lambda: faults.hits["inside_tool"])
    await app.close()  # the blocked turn is handed back, not cancelled
    with pytest.raises(tl.LeaseLost):
        await task
    return thread.id


@pytest.mark.parametrize(
    ("idempotent", "runs", "outcome"), [(True, 1, "success"), (False, 0, "unknown")]
)
async def test_a_started_call_reruns_only_if_idempotent(
    db_path: Path, idempotent: bool, runs: int, outcome: str
) -> None:
    calls: list[str] = []

    @tl.tool(idempotent=idempotent)
    async def charge(thread: tl.ThreadState[Any]) -> str:
        """Charge the card."""
        calls.append(thread.idempotency_key)
        return "charged"

    thread_id = await hand_back_inside_tool(
        db_path, charge, ScriptedModel([tool_call("charge", {})])
    )
    model = ScriptedModel(["after recovery"])
    async with tl.Threadline(
        agents=[tl.Agent(name="a", tools=[charge], model=model)], store=db_path
    ) as app:
        report = await app.recover()
        await report.wait()
        thread = await app.threads.resume(thread_id)
        (result,) = [i.payload for i in await thread.items() if isinstance(i.payload, ToolResult)]
        turn = (await thread.turns())[0]

    assert len(calls) == runs
    assert result.outcome == outcome
    assert turn.status == "completed"
    model.assert_done()


async def test_on_unknown_pause_asks_a_human_whether_to_run_again(db_path: Path) -> None:
    calls: list[int] = []

    @tl.tool
    async def launch() -> str:
        """Launch."""
        calls.append(1)
        return "launched"

    thread_id = await hand_back_inside_tool(
        db_path, launch, ScriptedModel([tool_call("launch", {})])
    )
    model = ScriptedModel(["relaunched"])
    agent = tl.Agent(name="a", tools=[launch], model=model, on_unknown="pause")
    async with tl.Threadline(agents=[agent], store=db_path) as app:
        await (await app.recover()).wait()
        thread = await app.threads.resume(thread_id)
        (request,) = await thread.pending()
        assert isinstance(request, tl.ApprovalRequest)
        assert "unknown" in (request.reason or "")
        await thread.approve(request.tool_call_id)
        result = await thread.resume_turn()

    assert calls == [1]
    assert result.text == "relaunched"


async def test_queued_input_of_a_dead_process_runs_in_order(db_path: Path) -> None:
    model = ScriptedModel([])
    agent = tl.Agent(name="a", model=model)
    async with tl.Threadline(agents=[agent], store=db_path) as app:
        thread = await app.threads.start()
        app._engine.closing = True  # stands in for a process that died before draining
        for text in ("one", "two"):
            await thread.enqueue(text)

    later = ScriptedModel(["1", "2"])
    async with tl.Threadline(agents=[tl.Agent(name="a", model=later)], store=db_path) as app:
        await app.recover()
        resumed = await app.threads.resume(thread.id)

        async def both_done() -> list[tl.TurnRecord] | None:
            turns = await resumed.turns()
            return turns if [t.status for t in turns] == ["completed"] * 2 else None

        turns = await eventually(both_done)

    assert [(t.input[0]["text"], t.status) for t in turns] == [
        ("one", "completed"),
        ("two", "completed"),
    ]


async def test_budget_counters_survive_a_restart(db_path: Path) -> None:
    @tl.tool
    async def step() -> str:
        """One more step."""
        return "ok"

    thread_id = await hand_back_inside_tool(db_path, step, ScriptedModel([tool_call("step", {})]))
    model = ScriptedModel([tool_call("step", {})])
    agent = tl.Agent(name="a", tools=[step], model=model, max_iterations=2)
    async with tl.Threadline(agents=[agent], store=db_path) as app:
        await (await app.recover()).wait()
        (turn,) = await (await app.threads.resume(thread_id)).turns()

    assert turn.status == "failed"
    assert turn.error is not None
    assert turn.error["limit"] == "max_iterations"
    assert turn.steps == 2  # one step before the restart, one after: never a third
    model.assert_done()
