"""A caller can ask to approve tools the agent runs without approval, for one turn
(`require_approval=`); it can never remove an approval the agent requires."""

from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.testing import tool_call
from threadline.types import ToolResult


@pytest.fixture
def lookups() -> list[str]:
    return []


@pytest.fixture
def lookup(lookups: list[str]) -> tl.Tool:
    @tl.tool
    async def lookup(city: str) -> str:
        """Look a city up."""
        lookups.append(city)
        return f"{city} found"

    return lookup


async def test_the_turn_pauses_before_the_tool_until_a_human_approves(
    make_app: Any, make_store: Any, lookup: tl.Tool, lookups: list[str]
) -> None:
    app, _ = await make_app(
        [tool_call("lookup", {"city": "Oslo"}, tool_call_id="c1")], tools=[lookup]
    )
    thread = await app.threads.start()

    paused = await thread.run("find Oslo", require_approval=["lookup"])

    assert paused.status == "paused"
    assert [p.name for p in paused.pending_approvals] == ["lookup"]
    assert lookups == []
    await app.close()

    # Another process continues the turn: the caller's approvals are stored with it.
    later, model = await make_app(
        ["Found.", tool_call("lookup", {"city": "Rome"}, tool_call_id="c2"), "Also found."],
        tools=[lookup],
    )
    same = await later.threads.resume(thread.id)
    await same.approve("c1")
    result = await same.resume_turn()
    assert result.text == "Found."
    assert lookups == ["Oslo"]

    # The next turn is a new run: without require_approval the tool runs at once.
    free = await same.run("find Rome")
    assert free.status == "completed"
    assert lookups == ["Oslo", "Rome"]
    assert len(model.requests) == 3


async def test_a_denied_call_is_not_run(make_app: Any, lookup: tl.Tool, lookups: list[str]) -> None:
    app, _ = await make_app(
        [tool_call("lookup", {"city": "Oslo"}, tool_call_id="c1"), "Not looked up."],
        tools=[lookup],
    )
    thread = await app.threads.start()
    await thread.run("find Oslo", require_approval={"lookup"})

    await thread.deny("c1", reason="not now")
    result = await thread.resume_turn()

    assert lookups == []
    [denied] = [i.payload for i in result.items if isinstance(i.payload, ToolResult)]
    assert denied.outcome == "denied"


async def test_names_the_agent_lacks_and_queued_input_are_refused(
    make_app: Any, lookup: tl.Tool
) -> None:
    app, _ = await make_app([], tools=[lookup])
    thread = await app.threads.start()

    with pytest.raises(tl.InvalidInputError, match="require_approval names no tool of agent"):
        await thread.run("find Oslo", require_approval=["lokup"])
    with pytest.raises(tl.InvalidInputError, match="on_busy='enqueue' or 'steer'"):
        await thread.run("find Oslo", require_approval=["lookup"], on_busy="enqueue")
    with pytest.raises(tl.InvalidInputError, match="a collection of tool names"):
        await thread.run("find Oslo", require_approval="lookup")

    assert await thread.turns() == []
