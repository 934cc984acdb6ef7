"""A turn that pauses for an approval, over MCP: the call says so (with the pending call and
what to call to answer it), `answer_approval` decides it once and continues the turn, and a
client that can ask its user (elicitation) is asked instead: accept approves, decline denies,
cancel leaves the call waiting."""

from __future__ import annotations

from mcp_harness import answering, mcp_client, mcp_server, mcp_session, structured, text
from responses_harness import RunningServer

__all__ = ["mcp_server"]

_DENIED = "transfer returned Error: a human denied this call. It was not run."


async def test_a_paused_turn_says_what_it_waits_for_and_answer_approval_continues_it(
    mcp_server: RunningServer,
) -> None:
    async with mcp_session(mcp_server) as session:
        paused = await session.call_tool("assistant", {"input": "transfer 5"})
        waiting = structured(paused)
        call = waiting["pending_approvals"][0]
        answer = {
            "thread_id": waiting["thread_id"],
            "tool_call_id": call["tool_call_id"],
            "decision": "approve",
            "reason": "Ann is owed",
        }
        done = await session.call_tool("answer_approval", answer)
        again = await session.call_tool("answer_approval", {**answer, "decision": "deny"})
        read = structured(
            await session.call_tool("read_thread", {"thread_id": waiting["thread_id"]})
        )

    assert not paused.is_error
    assert waiting["status"] == "paused"
    assert call == {
        "tool_call_id": "call_transfer_0",
        "tool": "transfer",
        "arguments": '{"amount": 5}',
        "thread_id": waiting["thread_id"],
    }
    assert "answer_approval" in text(paused) and "call_transfer_0" in text(paused)
    assert structured(done)["status"] == "completed"
    assert structured(done)["turn_id"] == waiting["turn_id"]  # the same turn went on
    assert text(done) == "transfer returned sent 5"
    assert again.is_error
    assert "answered already" in text(again)
    assert [(i["title"], i["text"]) for i in read["items"] if "approval" in i["type"]] == [
        ("approval asked for transfer", ""),
        ("approval approved", "Ann is owed"),
    ]
    assert read["pending_approvals"] == []


async def test_a_denied_call_never_runs_and_the_agent_is_told(mcp_server: RunningServer) -> None:
    async with mcp_session(mcp_server) as session:
        waiting = structured(await session.call_tool("assistant", {"input": "transfer 9"}))
        done = await session.call_tool(
            "answer_approval",
            {
                "thread_id": waiting["thread_id"],
                "tool_call_id": waiting["pending_approvals"][0]["tool_call_id"],
                "decision": "deny",
            },
        )

    assert structured(done)["status"] == "completed"
    assert text(done) == _DENIED


async def test_a_client_that_elicits_asks_its_user_and_the_turn_goes_on(
    mcp_server: RunningServer,
) -> None:
    approve, asked = answering("accept", reason="fine by me")
    async with mcp_session(mcp_server, elicitation=approve) as session:
        approved = await session.call_tool("assistant", {"input": "transfer 7"})
        read = structured(
            await session.call_tool("read_thread", {"thread_id": structured(approved)["thread_id"]})
        )
    deny, _ = answering("decline")
    async with mcp_session(mcp_server, elicitation=deny) as session:
        denied = await session.call_tool("assistant", {"input": "transfer 8"})

    assert asked == [
        'The agent wants to call transfer with {"amount": 7}. '
        "Accept to approve the call, decline to deny it."
    ]
    assert structured(approved)["status"] == "completed"
    assert text(approved) == "transfer returned sent 7"
    assert ("approval approved", "fine by me") in [(i["title"], i["text"]) for i in read["items"]]
    assert text(denied) == _DENIED


async def test_a_cancelled_question_leaves_the_call_waiting(mcp_server: RunningServer) -> None:
    cancel, asked = answering("cancel")
    async with mcp_session(mcp_server, elicitation=cancel) as session:
        paused = structured(await session.call_tool("assistant", {"input": "transfer 3"}))
        done = await session.call_tool(
            "answer_approval",
            {
                "thread_id": paused["thread_id"],
                "tool_call_id": paused["pending_approvals"][0]["tool_call_id"],
                "decision": "approve",
            },
        )

    assert len(asked) == 1
    assert paused["status"] == "paused"
    assert text(done) == "transfer returned sent 3"


async def test_the_2026_protocol_client_is_asked_through_its_retry(
    mcp_server: RunningServer,
) -> None:
    approve, asked = answering("accept", "cancel")
    async with mcp_client(mcp_server, elicitation=approve) as client:
        approved = await client.call_tool("assistant", {"input": "transfer 11"})
        paused = await client.call_tool("assistant", {"input": "transfer 12"})

    assert len(asked) == 2
    assert structured(approved)["status"] == "completed"
    assert text(approved) == "transfer returned sent 11"
    assert structured(paused)["status"] == "paused"
    assert structured(paused)["pending_approvals"][0]["arguments"] == '{"amount": 12}'
