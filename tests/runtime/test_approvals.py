from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import threadline as tl
from threadline.testing import ScriptedModel, tool_call
from threadline.types import ApprovalResponse, ToolResult


def results(items: list[tl.Item]) -> list[ToolResult]:
    return [i.payload for i in items if isinstance(i.payload, ToolResult)]


@pytest.fixture
def transfers() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def transfer(transfers: list[dict[str, Any]]) -> tl.Tool:
    @tl.tool(needs_approval=True)
    async def transfer(to: str, amount: int) -> str:
        """Send money."""
        transfers.append({"to": to, "amount": amount})
        return f"sent {amount} to {to}"

    return transfer


async def test_a_call_that_needs_approval_pauses_and_runs_once_approved(
    make_app: Any, transfer: tl.Tool, transfers: list[dict[str, Any]]
) -> None:
    app, model = await make_app(
        [tool_call("transfer", {"to": "ann", "amount": 5}, tool_call_id="c1"), "Sent."],
        tools=[transfer],
    )
    thread = await app.threads.start()

    events = [e async for e in thread.run_streamed("pay ann 5")]
    paused = await thread.turns()

    assert events[-1].type == "approval_requested"
    assert dict(events[-1].params) == {
        "kind": "approval",
        "tool_call_id": "c1",
        "name": "transfer",
        "arguments": '{"to":"ann","amount":5}',
        "reason": None,
        "expires_at": None,
    }
    assert paused[0].status == "awaiting_approval"
    assert (await thread.reload()).status == "awaiting_input"
    assert [p.tool_call_id for p in await thread.pending()] == ["c1"]
    assert transfers == []

    decision = await thread.approve("c1", reason="ok")
    again = await thread.approve("c1")
    result = await thread.resume_turn()

    assert (
        decision == again == ApprovalResponse(tool_call_id="c1", decision="approved", reason="ok")
    )
    assert result.status == "completed"
    assert result.text == "Sent."
    assert transfers == [{"to": "ann", "amount": 5}]
    assert [r.output for r in results(result.items)] == ["sent 5 to ann"]
    resolved = [e for e in await thread.events() if e.type == "approval_resolved"]
    assert [e.params["decision"] for e in resolved] == ["approved"]
    assert len(model.requests) == 2


async def test_run_returns_a_paused_result_listing_what_waits(
    make_app: Any, transfer: tl.Tool
) -> None:
    app, model = await make_app(
        [tool_call("transfer", {"to": "bo", "amount": 1}, tool_call_id="c9")], tools=[transfer]
    )
    thread = await app.threads.start()

    result = await thread.run("pay bo")

    assert result.status == "paused"
    assert [r.tool_call_id for r in result.pending_approvals] == ["c9"]
    assert result.pending_approvals[0].arguments_hash.startswith("sha256:")
    with pytest.raises(tl.TurnInProgressError):
        await thread.run("something else")
    model.steps.append("never")  # interrupting the paused turn ends it without a model call
    assert await thread.interrupt() is True
    model.steps.pop()
    turn = (await thread.turns())[0]
    assert turn.status == "cancelled"
    (synthetic,) = results(await thread.items())
    assert synthetic.outcome == "cancelled"


async def test_a_denied_call_never_runs_and_the_model_reads_why(
    make_app: Any, transfer: tl.Tool, transfers: list[dict[str, Any]]
) -> None:
    app, model = await make_app(
        [tool_call("transfer", {"to": "eve", "amount": 9}, tool_call_id="c2"), "Understood."],
        tools=[transfer],
    )
    thread = await app.threads.start()
    await thread.run("pay eve")

    await thread.deny("c2", reason="eve is a scammer")
    with pytest.raises(tl.InvalidInputError, match="already denied"):
        await thread.approve("c2")
    result = await thread.resume_turn()

    assert transfers == []
    (denial,) = results(result.items)
    assert denial.outcome == "denied"
    assert "eve is a scammer" in denial.output
    assert model.requests[-1].items[-1].payload == denial


async def test_approval_from_a_second_process_started_later(
    db_path: Path, transfer: tl.Tool, transfers: list[dict[str, Any]]
) -> None:
    first_model = ScriptedModel(
        [tool_call("transfer", {"to": "ann", "amount": 3}, tool_call_id="c3")]
    )
    agent = tl.Agent(name="bank", tools=[transfer], model=first_model)
    async with tl.Threadline(agents=[agent], store=db_path) as first:
        thread = await first.threads.start()
        assert (await thread.run("pay ann 3")).status == "paused"

    second_model = ScriptedModel(["Done."])
    agent2 = tl.Agent(name="bank", tools=[transfer], model=second_model)
    async with tl.Threadline(agents=[agent2], store=db_path) as second:
        same = await second.threads.resume(thread.id)
        await same.approve("c3")
        result = await same.resume_turn()
        assert result.text == "Done."
        assert result.turn_id == (await same.turns())[0].turn_id

    assert transfers == [{"to": "ann", "amount": 3}]
    first_model.assert_done()
    second_model.assert_done()


async def test_always_approves_later_calls_of_the_same_tool(
    make_app: Any, transfer: tl.Tool, transfers: list[dict[str, Any]]
) -> None:
    app, _ = await make_app(
        [
            tool_call("transfer", {"to": "a", "amount": 1}, tool_call_id="x1"),
            "one",
            tool_call("transfer", {"to": "b", "amount": 2}, tool_call_id="x2"),
            "two",
        ],
        tools=[transfer],
    )
    thread = await app.threads.start()
    await thread.run("first")
    await thread.approve("x1", always=True)
    await thread.resume_turn()

    second = await thread.run("second")

    assert second.status == "completed"
    assert [t["to"] for t in transfers] == ["a", "b"]


async def test_a_policy_decides_per_call(make_app: Any) -> None:
    @tl.tool(needs_approval=lambda args, state: args["amount"] > 100)
    async def pay(amount: int) -> str:
        """Pay."""
        return "paid"

    app, _ = await make_app(
        [tool_call("pay", {"amount": 5}), tool_call("pay", {"amount": 500}), "x"], tools=[pay]
    )
    thread = await app.threads.start()

    result = await thread.run("pay")

    assert result.status == "paused"
    assert [r.output for r in results(result.items)] == ["paid"]
    assert len(result.pending_approvals) == 1
    await thread.deny(result.pending_approvals[0].tool_call_id)
    await thread.resume_turn()


async def test_an_expired_approval_is_denied_by_recovery(
    make_app: Any, transfer: tl.Tool, transfers: list[dict[str, Any]]
) -> None:
    app, _ = await make_app(
        [tool_call("transfer", {"to": "z", "amount": 1}, tool_call_id="e1"), "Too late."],
        tools=[transfer],
        approval_expires_after=0.2,
    )
    thread = await app.threads.start()
    assert (await thread.run("pay z")).status == "paused"
    assert await (await app.recover()).wait() is None  # not due yet: nothing continues

    await asyncio.sleep(0.3)
    report = await app.recover()
    await report.wait()

    assert report.continued == [(await thread.turns())[0].turn_id]
    (denial,) = results(await thread.items())
    assert denial.outcome == "denied"
    assert "expired" in denial.output
    resolved = [e for e in await thread.events() if e.type == "approval_resolved"]
    assert resolved[-1].params["expired"] is True
    assert transfers == []
    assert (await thread.turns())[0].status == "completed"


async def test_deciding_a_call_that_is_not_pending_changes_nothing(make_app: Any) -> None:
    app, _ = await make_app(["hi"])
    thread = await app.threads.start()
    with pytest.raises(tl.InvalidInputError, match="no paused turn"):
        await thread.approve("nope")
    await thread.run("hello")
    events_before = await thread.events()
    with pytest.raises(tl.InvalidInputError):
        await thread.resume_turn()
    assert await thread.events() == events_before


async def test_resuming_here_joins_the_turn_that_this_process_recovers_meanwhile(
    make_app: Any, transfer: tl.Tool, transfers: list[dict[str, Any]]
) -> None:
    # After a decision, recovery may continue the turn as soon as nobody resumes it: when both
    # happen at once in one process, the resume follows the turn that recovery started.
    for n in range(5):
        app, _ = await make_app(
            [tool_call("transfer", {"to": "ann", "amount": n}, tool_call_id=f"c{n}"), "Sent."],
            tools=[transfer],
        )
        thread = await app.threads.start()
        async for _ in thread.run_streamed(f"pay ann {n}"):
            pass
        await thread.approve(f"c{n}")

        recovered, resumed = await asyncio.gather(app.recover(), thread.resume_turn())
        await recovered.wait()

        assert resumed.status == "completed"
        assert resumed.text == "Sent."
    assert [t["amount"] for t in transfers] == [0, 1, 2, 3, 4]
