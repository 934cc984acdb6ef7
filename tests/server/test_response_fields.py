"""What a response says of itself, on create and on retrieve: its metadata (its own, per
response), `previous_response_id`, `store`, and the model settings its turn runs with. And
the agents, listed as the server's models."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from pydantic import BaseModel


class City(BaseModel):
    name: str
    population: int


def test_metadata_is_stored_with_the_response(client: openai.OpenAI) -> None:
    created = client.responses.create(
        model="assistant", input="say hi", metadata={"ticket": "T-1", "team": "tea"}
    )

    assert created.metadata == {"ticket": "T-1", "team": "tea"}
    assert client.responses.retrieve(created.id).metadata == {"ticket": "T-1", "team": "tea"}
    later = client.responses.create(
        model="assistant", input="say again", previous_response_id=created.id
    )
    assert later.metadata == {}


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{n}": "v" for n in range(17)}, "metadata"),
        ({"k" * 65: "v"}, "metadata"),
        ({"k": "v" * 513}, "metadata.k"),
        ({"k": 1}, "metadata.k"),
    ],
)
def test_metadata_beyond_openais_limits_is_refused(
    client: openai.OpenAI, metadata: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="assistant", input="say hi", metadata=metadata)

    assert caught.value.body["param"] == param  # type: ignore[index]


def test_each_response_of_a_turn_has_its_own_metadata(client: openai.OpenAI) -> None:
    first = client.responses.create(model="assistant", input="transfer 5", metadata={"step": "ask"})
    [request] = first.output
    second = client.responses.create(
        model="assistant",
        previous_response_id=first.id,
        input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
        ],
        metadata={"step": "approve"},
    )

    assert second.output_text == "transfer returned sent 5"
    assert (first.metadata, second.metadata) == ({"step": "ask"}, {"step": "approve"})
    assert client.responses.retrieve(first.id).metadata == {"step": "ask"}
    assert client.responses.retrieve(second.id).metadata == {"step": "approve"}


def test_a_continuing_response_without_metadata_has_none(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    first = client.responses.create(
        model="assistant",
        input="transfer 6",
        conversation=conversation.id,
        metadata={"step": "ask"},
    )
    [request] = first.output
    second = client.responses.create(
        model="assistant",
        conversation=conversation.id,
        input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
        ],
    )

    assert second.metadata == {}
    assert client.responses.retrieve(second.id).metadata == {}
    assert client.responses.retrieve(first.id).metadata == {"step": "ask"}


def test_previous_response_id_is_echoed(client: openai.OpenAI) -> None:
    first = client.responses.create(model="assistant", input="say one")
    second = client.responses.create(
        model="assistant", input="say two", previous_response_id=first.id
    )

    assert first.previous_response_id is None
    assert second.previous_response_id == first.id
    assert client.responses.retrieve(second.id).previous_response_id == first.id


def test_store_is_echoed(client: openai.OpenAI) -> None:
    kept = client.responses.create(model="assistant", input="say kept")
    dropped = client.responses.create(model="assistant", input="say dropped", store=False)

    assert (kept.store, dropped.store) == (True, False)


def test_sampling_settings_are_echoed(client: openai.OpenAI) -> None:
    plain = client.responses.create(model="assistant", input="say plain")
    tuned = client.responses.create(
        model="assistant", input="say tuned", temperature=0.3, top_p=0.9, max_output_tokens=50
    )

    assert (plain.temperature, plain.top_p, plain.max_output_tokens) == (1.0, 1.0, None)
    assert (tuned.temperature, tuned.top_p, tuned.max_output_tokens) == (0.3, 0.9, 50)
    again = client.responses.retrieve(tuned.id)
    assert (again.temperature, again.top_p, again.max_output_tokens) == (0.3, 0.9, 50)


@pytest.mark.parametrize(
    ("settings", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"max_output_tokens": 15}, "max_output_tokens"),
        (
            {"text": {"format": {"type": "json_schema", "name": "a b", "schema": {}}}},
            "text.format.name",
        ),
    ],
)
def test_settings_out_of_range_are_refused(
    client: openai.OpenAI, settings: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="assistant", input="say hi", **settings)

    assert caught.value.body["param"] == param  # type: ignore[index]


def test_instructions_are_echoed_after_the_agents(client: openai.OpenAI) -> None:
    plain = client.responses.create(model="assistant", input="say plain")
    extra = client.responses.create(
        model="assistant", input="say extra", instructions="Speak like a pirate."
    )

    assert plain.instructions == "Be brief."
    assert extra.instructions == "Be brief.\n\nSpeak like a pirate."
    assert client.responses.retrieve(extra.id).instructions == extra.instructions


def test_the_output_format_is_echoed(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(
        model="assistant", text_format=City, input='json {"name": "Oslo", "population": 7}'
    )
    as_object = client.responses.create(
        model="assistant", input='json {"a": 1}', text={"format": {"type": "json_object"}}
    )

    fmt = client.responses.retrieve(parsed.id).text.format
    assert fmt is not None
    assert (fmt.type, getattr(fmt, "name", None), getattr(fmt, "strict", None)) == (
        "json_schema",
        "City",
        True,
    )
    assert getattr(fmt, "schema_", None) == parsed.text.format.schema_  # type: ignore[union-attr]
    assert as_object.text.format is not None
    assert as_object.text.format.type == "json_object"
    assert client.responses.retrieve(as_object.id).output_text == '{"a": 1}'


def test_a_continuing_response_keeps_its_turns_settings(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model="assistant", input="transfer 8", instructions="Be quick.", temperature=0.4
    )
    [request] = first.output
    approval = {"type": "mcp_approval_response", "approval_request_id": request.id}

    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="assistant",
            previous_response_id=first.id,
            input=[{**approval, "approve": True}],
            instructions="Be slow.",
        )
    second = client.responses.create(
        model="assistant",
        previous_response_id=first.id,
        input=[{**approval, "approve": True}],
        temperature=0.4,
    )

    assert caught.value.body["param"] == "instructions"  # type: ignore[index]
    assert "cannot change" in caught.value.message
    assert second.output_text == "transfer returned sent 8"
    assert (second.instructions, second.temperature) == ("Be brief.\n\nBe quick.", 0.4)


def test_the_agents_are_the_models(client: openai.OpenAI) -> None:
    models = client.models.list()

    assert [m.id for m in models.data] == ["assistant", "other"]
    assert all(m.object == "model" and m.owned_by == "threadline" for m in models.data)
    assert client.models.retrieve("other").model_dump() == models.data[1].model_dump()
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-nobody")
    assert caught.value.body == {  # type: ignore[comparison-overlap]
        "message": "The model 'gpt-nobody' does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
