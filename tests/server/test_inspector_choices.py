"""A choice a tool waits for, answered from the inspector's pending page."""

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


@tl.tool
async def pick_seat(thread: tl.ThreadState[Any]) -> str:
    """Ask which seat."""
    choice = await thread.await_choice("Which seat?", Seat)
    return f"booked {choice.seat}"


@pytest.fixture
def seats_server(tmp_path: Path) -> Iterator[RunningServer]:
    model = ScriptedModel([tool_call("pick_seat", {}), "Booked."])
    agent = tl.Agent(name="seats", tools=[pick_seat], model=model)
    running, handle = start_server(tmp_path / "seats.db", app_agents=[agent])
    yield running
    stop_server(handle)


def test_a_choice_is_answered_from_the_pending_page(seats_server: RunningServer) -> None:
    with httpx.Client(base_url=seats_server.origin, timeout=30) as client:
        started = client.post(
            "/v1/responses", json={"model": "seats", "input": "book me", "background": True}
        )
        thread_id = started.json()["conversation"]["id"]
        pending = page_with(client, "/inspector/pending", "Which seat?")
        action = re.search(rf'action="(/inspector/threads/{thread_id}/choices/[^"]+)"', pending)
        token = re.search(r'name="csrf_token" value="(\w+)"', pending)
        assert action and token
        origin = {"Origin": seats_server.origin}
        form = {"csrf_token": token[1], "value": '{"seat": "12A"}'}
        assert client.post(action[1], data=form, headers=origin).status_code == 303
        page = page_with(client, f"/inspector/threads/{thread_id}", "Booked.")
        assert "booked 12A" in page
        again = client.post(action[1], data=form, headers=origin)
        assert again.status_code == 400
        assert "no choice of this thread with that id waits for an answer" in again.text
