"""`Threadline(store=":memory:")`: a whole app on a database in memory, its own per store,
gone when the app closes. No file is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import threadline as tl
from threadline.testing import ScriptedModel, check_invariants, tool_call


@pytest.mark.parametrize("spec", [":memory:", "sqlite:///:memory:"])
async def test_a_tool_using_turn_runs_on_an_in_memory_store(
    spec: str, weather_tool: tl.Tool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = ScriptedModel([tool_call("get_weather", {"city": "Paris"}), "18 °C.", "Bye."])
    agent = tl.Agent(name="assistant", tools=[weather_tool], model=model)

    async with tl.Threadline(agents=[agent], store=spec) as app:
        thread = await app.threads.start(user_id="me")
        result = await thread.run("Weather in Paris?")
        streamed = [e.type async for e in thread.run_streamed("Thanks")]
        listed = await app.threads.list(user_id="me")
        items = await thread.items()
        events = await thread.events()
        assert await check_invariants(app.store) == []

    assert result.text == "18 °C."
    assert streamed[0] == "turn_started" and streamed[-1] == "completed"
    assert [t.id for t in listed] == [thread.id]
    assert [i.type for i in items] == [
        "user_message",
        "tool_call",
        "tool_result",
        "agent_message",
        "user_message",
        "agent_message",
    ]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert os.listdir(tmp_path) == []
    model.assert_done()


async def test_each_in_memory_store_is_a_database_of_its_own() -> None:
    agent = tl.Agent(name="assistant", model=ScriptedModel([]))

    async with (
        tl.Threadline(agents=[agent], store=":memory:") as one,
        tl.Threadline(agents=[agent], store=":memory:") as two,
    ):
        thread = await one.threads.start(key="shared-key")
        assert [t.id for t in await one.threads.list()] == [thread.id]
        assert list(await two.threads.list()) == []
        assert (await two.threads.start(key="shared-key")).id != thread.id

    async with tl.Threadline(agents=[agent], store=":memory:") as reopened:
        assert list(await reopened.threads.list()) == []


def test_the_sync_facade_runs_on_an_in_memory_store() -> None:
    agent = tl.Agent(name="assistant", model=ScriptedModel(["Hello."]))

    with tl.Threadline(agents=[agent], store=":memory:").sync as app:
        thread = app.threads.start()
        assert thread.run("Hi").text == "Hello."
        assert len(thread.items()) == 2
