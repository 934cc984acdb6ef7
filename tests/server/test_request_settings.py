"""A request's `instructions`, `text.format` and sampling settings reach the model, in every
request of the turn, and in whichever server process continues a paused turn."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
from apps import get_weather, transfer
from pydantic import BaseModel
from responses_harness import RunningServer, start_server, stop_server

import threadline as tl
from threadline.testing import ScriptedModel, Step, tool_call

OSLO = '{"name": "Oslo", "population": 700000}'


class City(BaseModel):
    name: str
    population: int


def _agents(model: ScriptedModel) -> list[tl.Agent]:
    return [
        tl.Agent(
            name="assistant",
            instructions="Be brief.",
            model=model,
            tools=[get_weather, transfer],
            temperature=0.2,
        )
    ]


@contextmanager
def _serving(
    db: Path, steps: Sequence[Step | str], *, store: tl.Store | None = None, **config: Any
) -> Iterator[tuple[openai.OpenAI, ScriptedModel, RunningServer]]:
    model = ScriptedModel(list(steps))
    server, handle = start_server(db, store=store, app_agents=_agents(model), **config)
    try:
        with openai.OpenAI(
            base_url=server.base_url, api_key="unused", max_retries=0, timeout=30
        ) as client:
            yield client, model, server
    finally:
        stop_server(handle)


def test_instructions_reach_every_model_request_of_the_turn(tmp_path: Path) -> None:
    steps = [tool_call("get_weather", {"city": "Oslo"}), "Arr, 18 degrees.", "Hello."]
    with _serving(tmp_path / "t.db", steps) as (client, model, _):
        first = client.responses.create(
            model="assistant", input="Weather in Oslo?", instructions="Talk like a pirate."
        )
        client.responses.create(model="assistant", input="Hi", previous_response_id=first.id)

    assert first.output_text == "Arr, 18 degrees."
    assert [r.instructions for r in model.requests] == [
        "Be brief.\n\nTalk like a pirate.",
        "Be brief.\n\nTalk like a pirate.",
        "Be brief.",
    ]


def test_a_server_that_refuses_instructions_says_so(tmp_path: Path) -> None:
    with _serving(tmp_path / "t.db", ["Hello."], refuse_client_instructions=True) as (
        client,
        model,
        _,
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model="assistant", input="Hi", instructions="Obey me.")
        response = client.responses.create(model="assistant", input="Hi")

    assert caught.value.body["param"] == "instructions"  # type: ignore[index]
    assert "does not accept instructions" in caught.value.message
    assert response.output_text == "Hello."
    assert [r.instructions for r in model.requests] == ["Be brief."]


def test_sampling_settings_reach_the_model(tmp_path: Path) -> None:
    with _serving(tmp_path / "t.db", ["one", "two"]) as (client, model, _):
        client.responses.create(
            model="assistant", input="Hi", temperature=0.7, top_p=0.5, max_output_tokens=64
        )
        plain = client.responses.create(model="assistant", input="Hi")

    first, second = model.requests
    assert (first.temperature, first.top_p, first.max_output_tokens) == (0.7, 0.5, 64)
    assert (second.temperature, second.top_p, second.max_output_tokens) == (0.2, None, None)
    assert (plain.temperature, plain.top_p) == (0.2, 1.0)  # the agent's, and OpenAI's default


def test_parse_gets_the_repaired_answer(tmp_path: Path) -> None:
    with _serving(tmp_path / "t.db", ["Oslo, about 700k people.", OSLO]) as (client, model, _):
        parsed = client.responses.parse(model="assistant", input="Oslo?", text_format=City)
        again = client.responses.retrieve(parsed.id)

    assert parsed.output_parsed == City(name="Oslo", population=700000)
    assert parsed.output_text == OSLO
    assert again.output_text == OSLO
    fmt = parsed.text.format
    assert fmt is not None and fmt.type == "json_schema"
    assert [r.output_schema for r in model.requests] == [fmt.schema_, fmt.schema_]
    assert fmt.schema_["properties"].keys() == {"name", "population"}  # type: ignore[index]


def test_a_streamed_parse_gets_the_repaired_answer(tmp_path: Path) -> None:
    with (
        _serving(tmp_path / "t.db", ['{"name": "Oslo"}', OSLO]) as (client, _, _),
        client.responses.stream(model="assistant", input="Oslo?", text_format=City) as stream,
    ):
        types = [event.type for event in stream]
        final = stream.get_final_response()

    assert final.output_parsed == City(name="Oslo", population=700000)
    assert final.output_text == OSLO
    assert types.count("response.output_text.done") == 1  # the rejected answer is not done
    assert "threadline:system_event" in types


def test_json_object_asks_for_an_object(tmp_path: Path) -> None:
    with _serving(tmp_path / "t.db", ["[1, 2]", '{"items": [1, 2]}']) as (client, model, _):
        response = client.responses.create(
            model="assistant", input="List", text={"format": {"type": "json_object"}}
        )

    assert response.output_text == '{"items": [1, 2]}'
    assert [r.output_schema for r in model.requests] == [{"type": "object"}] * 2


async def test_a_paused_turn_continued_by_another_server_keeps_its_settings(
    tmp_path: Path, make_store: Any
) -> None:
    db = tmp_path / "shared.db"
    with _serving(db, [tool_call("transfer", {"amount": 5})], store=make_store()) as (
        client,
        first_model,
        _,
    ):
        first = client.responses.parse(
            model="assistant",
            input="Pay 5 and report",
            text_format=City,
            instructions="Report as a city.",
            temperature=0.3,
            top_p=0.8,
            metadata={"segment": "ask"},
        )
    [request] = first.output
    assert request.type == "mcp_approval_request"

    with _serving(db, [OSLO], store=make_store()) as (client, second_model, _):
        second = client.responses.parse(
            model="assistant",
            previous_response_id=first.id,
            input=[
                {
                    "type": "mcp_approval_response",
                    "approval_request_id": request.id,
                    "approve": True,
                }
            ],
            text_format=City,
            metadata={"segment": "approve"},
        )
        first_again = client.responses.retrieve(first.id)
        second_again = client.responses.retrieve(second.id)

    assert second.output_parsed == City(name="Oslo", population=700000)
    schema = first.text.format.schema_  # type: ignore[union-attr]
    for model_request in (first_model.requests[0], second_model.requests[0]):
        assert model_request.instructions == "Be brief.\n\nReport as a city."
        assert model_request.output_schema == schema
        assert (model_request.temperature, model_request.top_p) == (0.3, 0.8)
    for response, segment in ((first_again, "ask"), (second_again, "approve")):
        assert response.metadata == {"segment": segment}
        assert response.instructions == "Be brief.\n\nReport as a city."
        assert (response.temperature, response.top_p) == (0.3, 0.8)
        assert response.text.format.schema_ == schema  # type: ignore[union-attr]
    assert second_again.previous_response_id == first.id
    assert second_again.output_text == OSLO


@pytest.mark.local_model
def test_the_local_model_answers_in_the_clients_format(tmp_path: Path) -> None:
    server, handle = start_server(
        tmp_path / "local.db", app_agents=[tl.Agent(name="assistant", model="local")]
    )
    try:
        with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client:
            parsed = client.responses.parse(
                model="assistant",
                instructions="Answer in JSON.",
                input="Oslo has 700000 people. Give the city's name and population.",
                text_format=City,
                max_output_tokens=60,
            )
    finally:
        stop_server(handle)

    # The bundled model is held to the schema by a grammar: its first answer parses.
    assert parsed.output_parsed == City(name="Oslo", population=700000)


def test_an_answer_that_stays_invalid_fails_the_response_without_output(
    tmp_path: Path,
) -> None:
    with _serving(tmp_path / "t.db", ["Oslo.", "Oslo!", "Oslo?"]) as (client, _, _):
        parsed = client.responses.parse(model="assistant", input="Oslo?", text_format=City)

    assert parsed.status == "failed"
    assert parsed.error is not None and parsed.error.message.startswith("output_invalid:")
    assert (parsed.output, parsed.output_parsed) == ([], None)
