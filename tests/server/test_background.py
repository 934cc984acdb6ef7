"""`background=True`: the request returns at once, the turn runs on; polling sees it end, and
cancelling interrupts it."""

from __future__ import annotations

import time

import openai
import pytest
from pydantic import BaseModel


def _poll(
    client: openai.OpenAI, response_id: str, *, timeout: float = 10
) -> openai.types.responses.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress") or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_a_background_response_returns_at_once_and_completes(client: openai.OpenAI) -> None:
    started = time.monotonic()
    response = client.responses.create(model="assistant", input="slow 1", background=True)

    assert time.monotonic() - started < 0.9
    assert response.status in ("queued", "in_progress")
    assert response.background is True
    done = _poll(client, response.id)
    assert done.status == "completed"
    assert done.output_text == "this took a while"


def test_cancelling_a_background_response_interrupts_its_turn(client: openai.OpenAI) -> None:
    response = client.responses.create(model="assistant", input="slow 20", background=True)

    cancelled = client.responses.cancel(response.id)

    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(response.id).status == "cancelled"
    conversation = response.conversation
    assert conversation is not None
    after = client.responses.create(
        model="assistant", conversation=conversation.id, input="say still here"
    )
    assert after.output_text == "still here"


def test_cancelling_a_finished_response_changes_nothing(client: openai.OpenAI) -> None:
    response = client.responses.create(model="assistant", input="say finished")

    assert client.responses.cancel(response.id).status == "completed"


def test_a_background_response_can_be_streamed_while_it_runs(client: openai.OpenAI) -> None:
    response = client.responses.create(model="assistant", input="slow 1", background=True)

    with client.responses.stream(response_id=response.id) as stream:
        final = stream.get_final_response()

    assert final.output_text == "this took a while"


def test_background_needs_store(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="store"):
        client.responses.create(model="assistant", input="x", background=True, store=False)


class City(BaseModel):
    name: str
    population: int


def test_structured_output_parses_into_the_clients_model(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(
        model="assistant", text_format=City, input='json {"name": "Oslo", "population": 700000}'
    )

    assert parsed.output_parsed == City(name="Oslo", population=700000)


def test_an_invalid_output_schema_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="assistant",
            input="x",
            text={"format": {"type": "json_schema", "name": "bad", "schema": {"type": "nonsense"}}},
        )

    assert caught.value.body["param"] == "text.format.schema"  # type: ignore[index]


def test_store_false_leaves_nothing_behind(client: openai.OpenAI) -> None:
    response = client.responses.create(model="assistant", input="say forget me", store=False)

    assert response.output_text == "forget me"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            client.responses.retrieve(response.id)
        except openai.NotFoundError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("a store=false response was kept")
