from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import threadline as tl
from threadline.types import SystemEvent


class City(BaseModel):
    name: str
    population: int


async def test_fenced_json_is_stripped_and_validated(make_app: Any) -> None:
    app, model = await make_app(
        ['```json\n{"name": "Paris", "population": 2100000}\n```'], output_type=City
    )
    thread = await app.threads.start()

    result = await thread.run("Paris?")

    assert result.output == City(name="Paris", population=2100000)
    assert model.requests[0].output_schema == City.model_json_schema()


async def test_invalid_output_is_repaired_once_then_valid(make_app: Any) -> None:
    app, model = await make_app(
        ['{"name": "Paris"}', '{"name": "Paris", "population": 2}'], output_type=City
    )
    thread = await app.threads.start()

    events = [e async for e in thread.run_streamed("Paris?")]

    repairs = [e for e in events if e.type == "system_event"]
    assert len(repairs) == 1
    assert repairs[0].params["phase"] == "repair"
    assert "population" in repairs[0].params["message"]
    assert events[-1].params["output"] == {"name": "Paris", "population": 2}
    # The repair request reached the model as part of the history.
    last = model.requests[1].items[-1].payload
    assert isinstance(last, SystemEvent)
    assert last.phase == "repair"


async def test_exhausted_repairs_fail_the_turn(make_app: Any) -> None:
    app, _ = await make_app(["nope", "still nope"], output_type=City, output_repair_attempts=1)
    thread = await app.threads.start()

    with pytest.raises(tl.TurnFailedError) as caught:
        await thread.run("Paris?")

    assert caught.value.error_code == "output_invalid"


async def test_json_schema_output(make_app: Any) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    app, _ = await make_app(['{"ok": "yes"}', '{"ok": true}'], output_type=schema)
    thread = await app.threads.start()

    result = await thread.run("ok?")

    assert result.output == {"ok": True}


def test_an_invalid_output_schema_is_refused_at_definition() -> None:
    with pytest.raises(tl.ConfigurationError, match="not a valid JSON Schema"):
        tl.Agent(name="a", output_type={"type": "no-such-type"})
