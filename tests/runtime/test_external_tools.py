from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import threadline as tl
from threadline.testing import ScriptedModel, tool_call
from threadline.types import ToolCall, ToolResult

LOOKUP = tl.ExternalTool(
    name="lookup_order",
    description="Look an order up in the shop.",
    parameters={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
)


async def test_a_client_side_tool_pauses_the_turn_until_its_result_arrives(make_app: Any) -> None:
    app, model = await make_app(
        [tool_call("lookup_order", {"id": "42"}, tool_call_id="x1"), "Order 42 ships today."]
    )
    thread = await app.threads.start()

    paused = await thread.run("where is order 42?", external_tools=[LOOKUP])

    assert paused.status == "paused"
    assert [c.tool_call_id for c in paused.pending_external_calls] == ["x1"]
    assert [t.name for t in model.requests[0].tools] == ["lookup_order"]
    (waiting,) = await thread.pending()
    assert isinstance(waiting, ToolCall)
    assert waiting.name == "lookup_order"

    await thread.submit_tool_results({"x1": '{"status": "ships today"}'})
    result = await thread.resume_turn()

    assert result.text == "Order 42 ships today."
    (answer,) = [i.payload for i in result.items if isinstance(i.payload, ToolResult)]
    assert answer.output == '{"status": "ships today"}'
    assert [t.name for t in model.requests[1].tools] == ["lookup_order"]  # still offered


async def test_client_tools_and_the_run_budget_survive_a_new_process(db_path: Path) -> None:
    first = ScriptedModel([tool_call("lookup_order", {"id": "1"}, tool_call_id="y1")])
    async with tl.Threadline(agents=[tl.Agent(name="a", model=first)], store=db_path) as app:
        thread = await app.threads.start()
        await thread.run("order 1?", external_tools=[LOOKUP], budget=tl.Budget(max_iterations=1))

    second = ScriptedModel([])
    async with tl.Threadline(agents=[tl.Agent(name="a", model=second)], store=db_path) as app:
        again = await app.threads.resume(thread.id)
        await again.submit_tool_results({"y1": "not found"}, errors={"y1"})
        with pytest.raises(tl.TurnFailedError) as caught:
            await again.resume_turn()
        items = await again.items()

    assert caught.value.error_code == "budget_exceeded"  # the per-run limit came back too
    results = [i.payload for i in items if isinstance(i.payload, ToolResult)]
    assert [(r.output, r.outcome) for r in results] == [("not found", "error")]


async def test_results_for_calls_nobody_waits_for_are_refused(make_app: Any) -> None:
    app, _ = await make_app([tool_call("lookup_order", {"id": "7"}, tool_call_id="z1")])
    thread = await app.threads.start()
    await thread.run("7?", external_tools=[LOOKUP])

    with pytest.raises(tl.InvalidInputError, match="no client tool call"):
        await thread.submit_tool_results({"nope": "x"})
    with pytest.raises(tl.InvalidInputError, match="NUL"):
        await thread.submit_tool_results({"z1": "bad \x00"})
    assert [p.tool_call_id for p in await thread.pending()] == ["z1"]
    assert await thread.interrupt() is True
