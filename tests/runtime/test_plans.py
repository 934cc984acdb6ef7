"""The built-in `update_plan` tool: typed `plan` items and `plan_updated` events."""

from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.store._compact import content_from_store, content_to_store
from threadline.testing import tool_call
from threadline.types import ToolResult, payload_from_dict, payload_to_dict

FIRST = {
    "steps": [
        {"step": "Read the logs", "status": "completed"},
        {"step": "Fix the bug", "status": "in_progress"},
        {"step": "Add a test", "status": "pending"},
    ],
    "explanation": "The logs point at the parser.",
}
SECOND = {"steps": [{"step": "Read the logs", "status": "completed"}]}


async def test_each_update_stores_a_typed_plan_item_and_emits_plan_updated(
    make_app: Any, make_store: Any
) -> None:
    app, _ = await make_app(
        [tool_call("update_plan", FIRST), tool_call("update_plan", SECOND), "Planned."],
        tools=[tl.plan_tool()],
    )
    thread = await app.threads.start()

    live = [e async for e in thread.run_streamed("fix it")]

    first = tl.Plan(
        steps=(
            tl.PlanStep(step="Read the logs", status="completed"),
            tl.PlanStep(step="Fix the bug", status="in_progress"),
            tl.PlanStep(step="Add a test", status="pending"),
        ),
        explanation="The logs point at the parser.",
    )
    second = tl.Plan(steps=(tl.PlanStep(step="Read the logs", status="completed"),))
    async with make_store() as store:  # read back by another store object
        items = await store.load_items(thread.id)
    plans = [i for i in items if i.type == "plan"]
    assert [p.payload for p in plans] == [first, second]
    # Each plan item follows its tool's result, in the same write.
    for plan in plans:
        before = items[plan.seq - 2].payload
        assert isinstance(before, ToolResult)
        assert (before.name, before.output) == ("update_plan", "Plan updated")
    updates = [(e.item_id, dict(e.params)) for e in live if e.type == "plan_updated"]
    assert updates == [
        (plans[0].item_id, {"plan": FIRST["steps"], "explanation": FIRST["explanation"]}),
        (plans[1].item_id, {"plan": SECOND["steps"], "explanation": None}),
    ]
    stored = [
        (e.item_id, dict(e.params)) for e in await thread.events() if e.type == "plan_updated"
    ]
    assert stored == updates
    completed = [
        e.seq for e in live if e.type == "item_completed" and e.item_id == plans[0].item_id
    ]
    assert next(e.seq for e in live if e.type == "plan_updated") > completed[0]


async def test_a_plan_with_two_steps_in_progress_is_refused(make_app: Any) -> None:
    bad = {
        "steps": [
            {"step": "a", "status": "in_progress"},
            {"step": "b", "status": "in_progress"},
        ]
    }
    app, _ = await make_app([tool_call("update_plan", bad), "ok"], tools=[tl.plan_tool()])
    thread = await app.threads.start()

    events = [e async for e in thread.run_streamed("go")]

    items = await thread.items()
    (result,) = [i.payload for i in items if isinstance(i.payload, ToolResult)]
    assert result.outcome == "error"
    assert result.output == "Error: at most one step can be in_progress at a time"
    assert [i for i in items if i.type == "plan"] == []
    assert [e for e in events if e.type == "plan_updated"] == []


@pytest.mark.parametrize(
    "arguments",
    [
        {"steps": [{"step": "a", "status": "done"}]},
        {"steps": [{"step": "a"}]},
        {"steps": "a"},
        {},
    ],
)
async def test_invalid_plans_are_error_results_the_model_reads(
    make_app: Any, arguments: dict[str, Any]
) -> None:
    app, _ = await make_app([tool_call("update_plan", arguments), "ok"], tools=[tl.plan_tool()])
    thread = await app.threads.start()

    await thread.run("go")

    items = await thread.items()
    (result,) = [i.payload for i in items if isinstance(i.payload, ToolResult)]
    assert result.output.startswith("Invalid arguments for tool update_plan")
    assert [i for i in items if i.type == "plan"] == []


def test_the_plan_tool_schema_names_steps_statuses_and_explanation() -> None:
    plan_tool = tl.plan_tool()
    schema = plan_tool.parameters

    assert plan_tool.name == "update_plan"
    assert plan_tool.idempotent
    assert schema["required"] == ["steps"]
    assert set(schema["properties"]) == {"steps", "explanation"}
    step = schema["$defs"]["PlanStepArguments"]
    assert step["properties"]["status"]["enum"] == ["pending", "in_progress", "completed"]
    assert step["required"] == ["step", "status"]


@pytest.mark.parametrize(
    "plan",
    [
        tl.Plan(),
        tl.Plan(steps=(tl.PlanStep(step="only"),)),
        tl.Plan(
            steps=(
                tl.PlanStep(step="é ✓ \u0000", status="completed"),
                tl.PlanStep(step="b", status="in_progress"),
            ),
            explanation="why",
        ),
    ],
)
def test_plans_round_trip_through_the_wire_form_and_the_store_encoding(plan: tl.Plan) -> None:
    assert payload_from_dict("plan", payload_to_dict(plan)) == plan
    stored = content_to_store(plan, None)
    assert "type" not in stored
    if plan.explanation is None:
        assert "explanation" not in stored  # defaults are not written
    assert content_from_store("plan", stored, None) == plan


def test_a_stored_plan_with_an_unknown_status_is_unreadable() -> None:
    with pytest.raises(ValueError, match="unknown plan step status"):
        payload_from_dict("plan", {"steps": [{"step": "a", "status": "later"}]})
