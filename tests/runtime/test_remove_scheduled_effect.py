"""A tool removes scheduled effects of its thread: ones it just scheduled, stored ones, and
never another thread's (both stores)."""

from __future__ import annotations

from typing import Any

import threadline as tl
from threadline.testing import tool_call
from threadline.types import ToolResult


async def test_a_tool_removes_its_threads_scheduled_effects(make_app: Any) -> None:
    removed: dict[str, bool] = {}
    ids: dict[str, str] = {}

    @tl.tool
    async def tidy(thread: tl.ThreadState[Any]) -> str:
        """Tidy the reminders."""
        fresh = thread.schedule_effect("fresh", delay=600)
        kept = thread.schedule_effect("kept", delay=900)
        removed["fresh"] = await thread.remove_scheduled_effect(fresh.timer_id)
        removed["stored"] = await thread.remove_scheduled_effect(ids["stored"])
        removed["again"] = await thread.remove_scheduled_effect(ids["stored"])
        removed["foreign"] = await thread.remove_scheduled_effect(ids["foreign"])
        removed["unknown"] = await thread.remove_scheduled_effect("timer_unknown")
        ids["kept"] = kept.timer_id
        pending = await thread.get_scheduled_effects()
        return ",".join(sorted(t.input[0]["text"] for t in pending))

    app, _ = await make_app([tool_call("tidy"), "tidied"], tools=[tidy])
    other = await app.threads.start()
    ids["foreign"] = (await other.schedule("theirs", delay=600)).timer_id
    thread = await app.threads.start()
    ids["stored"] = (await thread.schedule("stored", delay=600)).timer_id

    result = await thread.run("tidy up")

    assert removed == {
        "fresh": True,
        "stored": True,
        "again": False,
        "foreign": False,
        "unknown": False,
    }
    output = next(i.payload for i in result.items if isinstance(i.payload, ToolResult)).output
    assert output == "kept"
    assert [t.timer_id for t in await thread.scheduled()] == [ids["kept"]]
    assert [t.timer_id for t in await other.scheduled()] == [ids["foreign"]]
