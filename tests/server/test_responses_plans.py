"""Plans over the Responses API: `update_plan` shows as an `mcp_call`, each update as a
`threadline:plan_updated` event of the stream, on both stores, read with the `openai` SDK."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from apps import CommandModel
from responses_harness import RunningServer, start_server, stop_server

import threadline as tl
from store_backends import BACKENDS, drop_schema, postgres_url

PLAN = {
    "steps": [
        {"step": "Read the logs", "status": "completed"},
        {"step": "Fix the parser", "status": "in_progress"},
    ],
    "explanation": "The logs point at the parser.",
}


@pytest.fixture(scope="module", params=BACKENDS)
def planner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    store = None if request.param == "sqlite" else tl.PostgresStore(postgres_url(), schema=schema)
    agent = tl.Agent(name="assistant", model=CommandModel(), tools=[tl.plan_tool()])
    running, handle = start_server(
        tmp_path_factory.mktemp(request.param) / "threadline.db", store=store, app_agents=[agent]
    )
    yield running
    stop_server(handle)
    if request.param == "postgres":
        asyncio.run(drop_schema(postgres_url(), schema))


@pytest.fixture
def client(planner: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=planner.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        yield client


def test_a_plan_update_streams_as_a_threadline_event(client: openai.OpenAI) -> None:
    stream = client.responses.create(
        model="assistant", input=f"client update_plan {json.dumps(PLAN)}", stream=True
    )
    events: list[Any] = list(stream)

    types = [e.type for e in events]
    (update,) = [e for e in events if e.type == "threadline:plan_updated"]
    final = events[-1].response
    assert final.status == "completed"
    assert update.model_dump()["params"] == {
        "plan": PLAN["steps"],
        "explanation": PLAN["explanation"],
    }
    # The update comes while the tool's call is shown, before the model answers.
    call_done = types.index("response.output_item.done")
    assert types.index("threadline:plan_updated") > call_done
    assert types.index("threadline:plan_updated") < types.index("response.output_text.delta")
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    call, message = final.output
    assert (call.type, call.name, call.output) == ("mcp_call", "update_plan", "Plan updated")
    assert message.content[0].text == "update_plan returned Plan updated"


def test_a_resumed_stream_replays_the_plan_update(client: openai.OpenAI) -> None:
    created = client.responses.create(
        model="assistant",
        input=f"client update_plan {json.dumps(PLAN)}",
        background=True,
        stream=True,
    )
    first: list[Any] = list(created)
    response_id = first[0].response.id
    (update,) = [e for e in first if e.type == "threadline:plan_updated"]

    replayed: list[Any] = list(
        client.responses.retrieve(
            response_id, stream=True, starting_after=update.sequence_number - 1
        )
    )

    assert replayed[0].type == "threadline:plan_updated"
    assert replayed[0].model_dump() == update.model_dump()
