from __future__ import annotations

from pathlib import Path

import threadline as tl
from threadline.runtime import SyncThread, SyncThreadManager, public_operations
from threadline.testing import ScriptedModel, tool_call


def test_the_sync_facade_exposes_every_async_operation() -> None:
    assert public_operations(SyncThread._target_class) == public_operations(tl.Thread)
    assert public_operations(SyncThreadManager._target_class) == public_operations(tl.ThreadManager)
    assert "run" in public_operations(tl.Thread)


def test_a_script_runs_turns_synchronously(db_path: Path, weather_tool: tl.Tool) -> None:
    model = ScriptedModel([tool_call("get_weather", {"city": "Paris"}), "18 °C.", "Sunny."])
    agent = tl.Agent(name="assistant", tools=[weather_tool], model=model)

    with tl.Threadline(agents=[agent], store=db_path).sync as app:
        thread = app.threads.start(user_id="me")
        result = thread.run("Paris?")
        deltas = [
            e.params["delta"]
            for e in thread.run_streamed("Rome?")
            if e.type == "agent_message_delta"
        ]
        listed = app.threads.list(user_id="me")
        items = thread.items()

    assert result.text == "18 °C."
    assert "".join(deltas) == "Sunny."
    assert [t.id for t in listed.threads] == [thread.id]
    assert len(items) == 6
    model.assert_done()


def test_a_script_iterates_pages_and_subscribes(db_path: Path) -> None:
    model = ScriptedModel(["first", "second"])
    agent = tl.Agent(name="assistant", model=model)

    with tl.Threadline(agents=[agent], store=db_path).sync as app:
        thread = app.threads.start(user_id="me")
        other = app.threads.start(user_id="me")
        page = app.threads.list(user_id="me")
        subscription = thread.subscribe()
        thread.run("one")
        thread.unsubscribe()
        seen = [e.type for e in subscription]
        with thread.subscribe() as watching:
            thread.run("two")
            texts: list[str] = []
            for event in watching:
                if event.is_terminal:
                    texts.append(event.params["text"])
                    break
        assert watching.closed

    assert [t.id for t in page] == [other.id, thread.id]
    assert len(page) == 2 and page[1].id == thread.id
    assert seen[0] == "turn_started" and seen[-1] == "completed"
    assert texts == ["second"]
    model.assert_done()
