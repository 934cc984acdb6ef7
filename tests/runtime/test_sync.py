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
