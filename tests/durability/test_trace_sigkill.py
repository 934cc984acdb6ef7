"""A turn killed mid-way, recovered by another process, paused for approval and approved in a
third is one trace: an execution span per process, the killed one left open."""

from __future__ import annotations

import pytest
from bank_harness import Bank

pytestmark = pytest.mark.slow


async def test_a_killed_recovered_and_approved_turn_is_one_trace(bank: Bank) -> None:
    bank.killed("run", "after_step_commit:kill", "wire")
    bank.recovered()  # continues the turn, which pauses for the wire's approval
    approved = bank.run("approve")
    assert approved.returncode == 0, approved.stderr[-2000:]

    spans = await bank.spans()

    assert len({s.trace_id for s in spans}) == 1
    (run,) = [s for s in spans if s.name == "thread.run"]
    assert run.parent_id is None and run.end is not None
    assert run.attributes["threadline.turn.status"] == "completed"
    killed, recovered, approving = sorted(
        (s for s in spans if s.name == "thread.execution"), key=lambda s: s.start
    )
    assert all(e.parent_id == run.span_id for e in (killed, recovered, approving))
    assert killed.end is None  # its process died before it could end it
    assert killed.attributes["threadline.continued"] is False
    assert recovered.attributes["threadline.continued"] is True
    assert recovered.attributes["threadline.turn.status"] == "awaiting_approval"
    assert approving.attributes["threadline.turn.status"] == "completed"
    owners = {e.attributes["threadline.owner"] for e in (killed, recovered, approving)}
    assert len(owners) == 3
    assert recovered.attributes["threadline.gap_seconds"] > 0
    steps = {s.span_id: s for s in spans if s.name == "thread.step"}
    by_number = {s.attributes["threadline.step.number"]: s for s in steps.values()}
    assert sorted(by_number) == [0, 1, 2]
    assert by_number[0].parent_id == killed.span_id  # stored before the kill
    assert by_number[1].parent_id == approving.span_id  # the wire ran once approved
    assert by_number[2].parent_id == approving.span_id
    (tool,) = [s for s in spans if s.name == "thread.tool"]
    assert tool.parent_id == by_number[1].span_id
    assert tool.attributes["gen_ai.tool.name"] == "wire"
    assert tool.attributes["threadline.tool.outcome"] == "success"
