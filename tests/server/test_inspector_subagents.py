"""A subagent's approval and choice wait on its parent's turn: the pending page lists them
under the parent, and answering one there continues the child, then the parent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from page_waiting import page_with
from pydantic import BaseModel
from responses_harness import RunningServer, start_server, stop_server

import threadline as tl
from threadline.testing import ScriptedModel, tool_call


class Seat(BaseModel):
    seat: str


@tl.tool(needs_approval=True)
async def transfer(amount: int) -> str:
    """Send money."""
    return f"sent {amount}"


@tl.tool
async def pick_seat(thread: tl.ThreadState[Any]) -> str:
    """Ask which seat."""
    choice = await thread.await_choice("Which seat for the trip?", Seat)
    return f"booked {choice.seat}"


@pytest.fixture
def family_server(tmp_path: Path) -> Iterator[RunningServer]:
    clerk = tl.Agent(
        name="clerk",
        tools=[transfer, pick_seat],
        model=ScriptedModel(
            [tool_call("transfer", {"amount": 7}), tool_call("pick_seat", {}), "All done."]
        ),
    )
    lead = tl.Agent(
        name="lead",
        subagents=[clerk],
        model=ScriptedModel([tool_call("clerk", {"input": "pay and book"}), "The clerk is done."]),
    )
    running, handle = start_server(tmp_path / "family.db", app_agents=[lead])
    yield running
    stop_server(handle)


def _answer(client: httpx.Client, page: str, kind: str, thread_id: str, **form: str) -> str:
    action = re.search(rf'action="(/inspector/threads/{thread_id}/{kind}/[^"]+)"', page)
    token = re.search(r'name="csrf_token" value="(\w+)"', page)
    assert action and token, page
    origin = {"Origin": str(client.base_url).rstrip("/")}
    answered = client.post(action[1], data={"csrf_token": token[1], **form}, headers=origin)
    assert answered.status_code == 303, answered.text
    return action[1]


def test_a_subagents_approval_and_choice_are_answered_from_the_pending_page(
    family_server: RunningServer,
) -> None:
    with httpx.Client(base_url=family_server.origin, timeout=30) as client:
        started = client.post(
            "/v1/responses", json={"model": "lead", "input": "do it", "background": True}
        )
        assert started.status_code == 200, started.text
        parent_id = started.json()["conversation"]["id"]

        # Under the parent, once its turn waits (the child may show on its own a moment before).
        pending = page_with(client, "/inspector/pending", f"/threads/{parent_id}/approvals/")
        assert "in subagent thread thr_" in pending and "transfer" in pending
        approved = _answer(client, pending, "approvals", parent_id, decision="approve")

        pending = page_with(client, "/inspector/pending", f"/threads/{parent_id}/choices/")
        assert "Which seat for the trip?" in pending
        assert pending.count("Which seat for the trip?") == 1  # not under the child too
        _answer(client, pending, "choices", parent_id, value='{"seat": "3C"}')

        page = page_with(client, f"/inspector/threads/{parent_id}", "The clerk is done.")
        assert "All done." in page  # the child's answer, the delegation's result
        assert "Nothing waits for an answer." in client.get("/inspector/pending").text
        origin = {"Origin": family_server.origin}
        token = re.search(r'name="csrf_token" value="(\w+)"', page)
        assert token
        again = client.post(
            approved, data={"csrf_token": token[1], "decision": "approve"}, headers=origin
        )
        assert again.status_code == 400  # single use
