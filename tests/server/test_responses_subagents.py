"""Subagents over the Responses API, read with the `openai` SDK: the child's work streams as
`threadline:subagent_progress` events of the parent's response, on both stores."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import openai
import pytest
from apps import CommandModel
from responses_harness import RunningServer, start_server, stop_server

import threadline as tl
from store_backends import BACKENDS, drop_schema, postgres_url


@tl.tool(needs_approval=True)
async def transfer(amount: int) -> str:
    """Move money."""
    return f"moved {amount}"


@pytest.fixture(scope="module", params=BACKENDS)
def delegating(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    store = None if request.param == "sqlite" else tl.PostgresStore(postgres_url(), schema=schema)
    researcher = tl.Agent(name="researcher", model=CommandModel(), tools=[transfer])
    lead = tl.Agent(name="assistant", model=CommandModel(), subagents=[researcher])
    running, handle = start_server(
        tmp_path_factory.mktemp(request.param) / "threadline.db", store=store, app_agents=[lead]
    )
    yield running
    stop_server(handle)
    if request.param == "postgres":
        asyncio.run(drop_schema(postgres_url(), schema))


@pytest.fixture
def client(delegating: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=delegating.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        yield client


def _delegate(task: str) -> str:
    return "client researcher " + json.dumps({"input": task})


def test_a_childs_work_streams_as_subagent_progress_events(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(model="assistant", input=_delegate("say found it"), stream=True)
    )

    progress = [e for e in events if e.type == "threadline:subagent_progress"]
    phases = [p.params["phase"] for p in progress]  # type: ignore[attr-defined]
    assert phases[0] == "started" and phases[-1] == "ended"
    assert "item_completed" in phases
    ended = progress[-1].params  # type: ignore[attr-defined]
    assert (ended["agent"], ended["status"], ended["text"]) == (
        "researcher",
        "completed",
        "found it",
    )
    done = events[-1]
    assert done.type == "response.completed"
    assert done.response.output_text == "researcher returned found it"
    (call,) = [i for i in done.response.output if i.type == "mcp_call"]
    assert (call.name, call.output) == ("researcher", "found it")


def test_a_childs_approval_is_asked_and_answered_through_the_parents_response(
    client: openai.OpenAI,
) -> None:
    paused = client.responses.create(model="assistant", input=_delegate("transfer 5"))

    (request,) = [i for i in paused.output if i.type == "mcp_approval_request"]
    assert (request.name, json.loads(request.arguments)) == ("transfer", {"amount": 5})

    done = client.responses.create(
        model="assistant",
        previous_response_id=paused.id,
        input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
        ],
    )

    assert done.status == "completed"
    assert done.output_text == "researcher returned transfer returned moved 5"
