"""SIGKILL at every named fault point, then a fresh process recovers. After each: the store's
invariants hold, the transcript is complete, and each tool ran as its semantics allow."""

from __future__ import annotations

import pytest
from bank_harness import Bank, results

pytestmark = pytest.mark.slow

# (fault point, scenario, tool runs expected in the ledger, outcome of the tool's result)
MATRIX = [
    ("after_user_item_commit", "pay", 1, "success"),
    ("before_model_call", "pay", 1, "success"),
    ("after_model_response", "pay", 1, "success"),
    ("after_step_commit", "pay", 1, "success"),
    ("after_tool_started", "pay", 0, "unknown"),  # not idempotent: never silently re-run
    ("inside_tool", "pay", 0, "unknown"),
    ("inside_tool", "balance", 1, "success"),  # idempotent: run again after the crash
    ("after_tool_result", "pay", 1, "success"),
    ("mid_stream", "pay", 1, "success"),
    ("before_turn_complete", "pay", 1, "success"),
]


@pytest.mark.parametrize(
    ("point", "scenario", "runs", "outcome"), MATRIX, ids=[f"{p}-{s}" for p, s, _, _ in MATRIX]
)
async def test_kill_at_a_fault_point_then_recover(
    bank: Bank, point: str, scenario: str, runs: int, outcome: str
) -> None:
    bank.killed("run", f"{point}:kill", scenario)
    bank.recovered()

    turns, items = await bank.state()
    assert [t.status for t in turns] == ["completed"]
    (result,) = results(items)
    assert result.outcome == outcome
    assert len(bank.ledger()) == runs
    assert items[-1].type == "agent_message"
    assert items[-1].text.startswith("Done: ")
    assert [i.type for i in items].count("agent_message") == 1  # a cut-off stream is not kept
    # One record per step, however often a step ran: a model step cut off before its
    # write is run and recorded again under the same number, never twice.
    steps = await bank.steps()
    assert [(s.number, s.kind, s.status) for s in steps] == [
        (0, "model", "completed"),
        (1, "tools", "completed"),
        (2, "model", "completed"),
    ]
    stored = {i.item_id for i in items}
    assert all(set(s.item_ids) <= stored for s in steps)
    assert steps[1].item_ids == tuple(i.item_id for i in items if i.type == "tool_result")


async def test_kill_after_the_approval_request_then_approve_from_another_process(
    bank: Bank,
) -> None:
    bank.killed("run", "after_approval_request:kill", "wire")
    bank.recovered()  # nothing to do: the turn waits for a human
    turns, _ = await bank.state()
    assert [t.status for t in turns] == ["awaiting_approval"]
    assert bank.ledger() == []

    approved = bank.run("approve")

    assert approved.returncode == 0, approved.stderr[-2000:]
    turns, items = await bank.state()
    assert [t.status for t in turns] == ["completed"]
    assert [r.output for r in results(items)] == ["wired to bob"]
    assert [tool for tool, _ in bank.ledger()] == ["wire"]


async def test_kill_after_the_approval_decision_then_recover(bank: Bank) -> None:
    assert bank.run("run", "", "wire").stdout.strip() == "paused"
    bank.killed("approve", "after_approval_decision:kill")

    bank.recovered()  # the decision is stored: recovery continues the turn

    turns, items = await bank.state()
    assert [t.status for t in turns] == ["completed"]
    assert [r.outcome for r in results(items)] == ["success"]
    assert len(bank.ledger()) == 1


async def test_queued_input_and_a_timer_survive_sigkill(bank: Bank) -> None:
    bank.killed("queue")
    bank.recovered()

    turns, items = await bank.state()
    assert [(t.input[0]["text"], t.status) for t in turns] == [
        ("pay", "completed"),
        ("two", "completed"),
        ("three", "completed"),
        ("four", "completed"),
    ]
    assert [i.text for i in items if i.type == "agent_message"][1:] == [
        "echo two",
        "echo three",
        "echo four",
    ]
